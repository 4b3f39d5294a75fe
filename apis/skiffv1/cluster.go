package skiffv1

// JoinRequest is what a master sends to join a cluster.
type JoinRequest struct {
	// Token is the join token as printed by `skiff server --init`.
	Token string `json:"token"`
	// ID is the joining master's Raft server ID.
	ID          string `json:"id"`
	RaftAddress string `json:"raftAddress"`
	APIAddress  string `json:"apiAddress"`
}

// JoinResponse tells a master it was admitted.
type JoinResponse struct {
	// Leader is the ID of the master that admitted it.
	Leader string `json:"leader"`
	// APIAddresses lists every master's API address.
	APIAddresses []string `json:"apiAddresses"`
}

// VersionInfo is the answer of /version.
type VersionInfo struct {
	Version   string `json:"gitVersion"`
	GoVersion string `json:"goVersion"`
	Platform  string `json:"platform"`
}
