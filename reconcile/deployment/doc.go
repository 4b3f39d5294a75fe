// Package deployment is the Deployment controller: it keeps one
// ReplicaSet per pod template of each Deployment (named
// "<deployment>-<pod-template-hash>", the hash also a label of the
// ReplicaSet, its selector and its pods), rolls from the old ones to the
// new one with the RollingUpdate (maxSurge, maxUnavailable) or Recreate
// strategy, numbers them with the deployment.kubernetes.io/revision
// annotation, deletes old empty ones beyond revisionHistoryLimit, and
// reports replicas, updatedReplicas, readyReplicas, availableReplicas,
// unavailableReplicas and the Available and Progressing conditions
// (progressDeadlineSeconds) in the status.
//
// It creates and scales ReplicaSets only; their pods are the ReplicaSet
// controller's. Rolling back is the CLI writing an old ReplicaSet's
// template into the Deployment: the controller then finds that
// ReplicaSet by its template and makes it the new one again.
//
// It runs on the Raft leader only, reads Deployments, ReplicaSets and
// pods from shared informers and writes through a reconcile.Writer.
package deployment
