"""The network families shipped with recurnet_sim, one package each.

Each package exports ``FAMILY``, a :class:`recurnet_sim.family.Family`. This table is the only
place that maps a scenario's ``network.type`` to the package that builds it; packages are imported
only when a scenario names one of their types (:func:`recurnet_sim.family.family_for`).
"""

#: network.type -> module exporting FAMILY
SHIPPED = {
    "hopfield": "recurnet_sim.families.hopfield",
    "modern_hopfield": "recurnet_sim.families.hopfield",
    "bam": "recurnet_sim.families.bam",
    "boltzmann": "recurnet_sim.families.boltzmann",
    "elman": "recurnet_sim.families.srn",
    "jordan": "recurnet_sim.families.srn",
    "lstm": "recurnet_sim.families.srn",
    "gru": "recurnet_sim.families.srn",
}
