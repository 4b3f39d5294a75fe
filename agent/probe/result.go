package probe

import "fmt"

// Result is the outcome of one probe, or the state a worker reports.
type Result int

const (
	// Unknown means the check could not be run (an internal error, an
	// unsupported handler, a port that does not resolve). It says nothing
	// about the container's health: a worker neither counts it nor lets it
	// break a run of successes or failures.
	Unknown Result = iota
	// Success means the check passed.
	Success
	// Failure means the check ran and failed.
	Failure
)

// String returns "success", "failure" or "unknown".
func (r Result) String() string {
	switch r {
	case Success:
		return "success"
	case Failure:
		return "failure"
	case Unknown:
		return "unknown"
	}
	return fmt.Sprintf("Result(%d)", int(r))
}

// Kind is what a probe decides for its container.
type Kind int

const (
	// Liveness failures get the container restarted.
	Liveness Kind = iota + 1
	// Readiness decides whether the container receives traffic.
	Readiness
	// Startup holds back liveness and readiness until it has succeeded;
	// its failure gets the container restarted.
	Startup
)

// String returns "liveness", "readiness" or "startup".
func (k Kind) String() string {
	switch k {
	case Liveness:
		return "liveness"
	case Readiness:
		return "readiness"
	case Startup:
		return "startup"
	}
	return fmt.Sprintf("Kind(%d)", int(k))
}

// initialResult is what a worker reports before any probe has decided:
// a container is alive until proven otherwise, but neither ready nor
// started until a probe says so.
func (k Kind) initialResult() Result {
	if k == Liveness {
		return Success
	}
	return Failure
}

// Key names one worker: one probe kind of one run of one container.
type Key struct {
	PodUID        string
	ContainerName string
	// ContainerID is the runtime's ID of the run being probed; a restarted
	// container has a new one.
	ContainerID string
	Kind        Kind
}

// String formats the key for logs and errors.
func (k Key) String() string {
	return fmt.Sprintf("%s/%s (%s) %s", k.PodUID, k.ContainerName, k.ContainerID, k.Kind)
}

// Update is sent when a worker's result changes, and once when a startup
// probe reaches its failureThreshold (the result stays Failure, but the
// container must now be restarted).
type Update struct {
	Key
	Result Result
	// Message is the output of the probe that decided Result: a failure
	// reason, a response body or a command's output, capped.
	Message string
}

// String formats the update for logs (it would otherwise be Key's).
func (u Update) String() string {
	return fmt.Sprintf("%s: %s %q", u.Key, u.Result, u.Message)
}
