// Package disruption is the leader's PodDisruptionBudget status
// controller: for each budget it counts the selected pods, the healthy
// (Ready) ones and how many the budget keeps, and publishes them with
// disruptionsAllowed and the DisruptionAllowed condition, so that
// `skiff get pdb` shows what a drain may take now. A budget that selects
// no pod says so (InsufficientPods, and a NoPods event). The eviction API
// decides evictions from the same counts, live.
package disruption
