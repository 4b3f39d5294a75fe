// Package nodelifecycle watches nodes' heartbeats on the leader. A node
// whose agent stopped posting its status for longer than the monitor grace
// gets Ready=Unknown and the unreachable taints (a node whose agent reports
// Ready=False gets the not-ready taints); the taints go again once the
// agent reports Ready=True. The pods of a node unhealthy for longer than
// the pod eviction timeout (or than their toleration of the NoExecute
// taint) are marked for deletion, so their controllers replace them
// elsewhere, and deleted for good after their grace period, since no agent
// is there to finish the job. When more than half of the nodes (of at least
// 3) are unhealthy at once, the cause is taken for a partition of the
// network, not for node failures, and evictions pause.
package nodelifecycle
