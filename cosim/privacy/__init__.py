"""Privacy-preserving metering: group aggregates no single party can open, role views, DP.

Modules: :mod:`~cosim.privacy.masking` (pairwise masking with double masking),
:mod:`~cosim.privacy.threshold` (2-of-2 threshold Paillier), :mod:`~cosim.privacy.shamir`,
:mod:`~cosim.privacy.dp` (distributed discrete Laplace noise and its accounting),
:mod:`~cosim.privacy.groups` (groups from the topology), :mod:`~cosim.privacy.metering`
(the simulation component), :mod:`~cosim.privacy.views` and
:mod:`~cosim.privacy.entitlements` (what each role may see). docs/privacy.md has the account.
"""
