// Package replicaset is the ReplicaSet controller: it keeps spec.replicas
// pods matching each ReplicaSet's selector, created from its template and
// controlled by it (ownerReference controller=true). It adopts orphan pods
// that match, releases controlled pods that stopped matching, deletes the
// least useful pods first when scaling down (unscheduled, then not ready,
// then ready for the shortest time, newest), and reports replicas,
// fullyLabeledReplicas, readyReplicas, availableReplicas (minReadySeconds)
// and observedGeneration in the status.
//
// It runs on the Raft leader only, reads pods and ReplicaSets from shared
// informers and writes through a reconcile.Writer.
package replicaset
