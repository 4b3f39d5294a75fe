// Command skiff is the whole of skiff in one binary: `skiff server` runs a
// master, and the other verbs are the CLI that drives a cluster.
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"runtime"
	"runtime/debug"
	"syscall"

	"github.com/spf13/cobra"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
)

// serverMemoryLimit is the server's soft memory limit (runtime/debug).
const serverMemoryLimit = 768 << 20

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

func main() {
	// The server allocates for every request (JSON in, JSON out) and has
	// memory to spare: collecting less often buys throughput. GOGC, when
	// set, still decides.
	// The node agent and the per-container log writers are long-lived
	// and many: they keep Go's defaults, the log writers even leaner.
	role := ""
	if len(os.Args) > 1 {
		role = os.Args[1]
	}
	switch {
	case role == containerLoggerCmd:
		runtime.GOMAXPROCS(1)
		debug.SetGCPercent(50)
	case os.Getenv("GOGC") == "" && role != "agent":
		debug.SetGCPercent(400)
		// ... up to a point: a soft limit makes the collector work harder
		// as the heap nears it, so a master's memory stays under 1 GiB
		// while its live data allows (GOMEMLIMIT, when set, decides).
		if os.Getenv("GOMEMLIMIT") == "" {
			debug.SetMemoryLimit(serverMemoryLimit)
		}
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	root := newRootCmd()
	if err := root.ExecuteContext(ctx); err != nil {
		var exit exitCodeError
		if errors.As(err, &exit) {
			os.Exit(exit.code)
		}
		var reported errAlreadyReported
		if !errors.As(err, &reported) {
			fmt.Fprintln(os.Stderr, describeError(err))
		}
		os.Exit(1)
	}
}

// globals are the flags every CLI verb shares.
type globals struct {
	config    string
	namespace string
}

func newRootCmd() *cobra.Command {
	g := &globals{}
	root := &cobra.Command{
		Use:           "skiff",
		Short:         "skiff turns a few Linux hosts into a container cluster",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.PersistentFlags().StringVar(&g.config, "config", "", "client config file (default $SKIFF_CONFIG, else ~/.skiff/config)")
	root.AddCommand(
		newServerCmd(),
		newAgentCmd(),
		newContainerLoggerCmd(),
		newApplyCmd(g),
		newGetCmd(g),
		newDescribeCmd(g),
		newDeleteCmd(g),
		newCreateCmd(g),
		newClusterCmd(g),
		newSnapshotCmd(g),
		newVersionCmd(g),
		newTokenCmd(g),
		newUserCmd(g),
		newSecretsCmd(g),
		newCACmd(g),
		newScaleCmd(g),
		newSetCmd(g),
		newRolloutCmd(g),
		newCordonCmd(g, true),
		newCordonCmd(g, false),
		newDrainCmd(g),
		newLogsCmd(g),
		newExecCmd(g),
		newImageCmd(g),
		newTopCmd(g),
		newAutoscaleCmd(g),
	)
	return root
}

// describeError formats an error for stderr, the way kubectl does for
// errors from the server.
func describeError(err error) string {
	var se *apierrors.StatusError
	if errors.As(err, &se) {
		st := se.Status()
		if st.Reason != "" {
			return fmt.Sprintf("Error from server (%s): %s", st.Reason, st.Message)
		}
		return "Error from server: " + st.Message
	}
	return "error: " + err.Error()
}

// errAlreadyReported fails a command whose reasons were already printed
// (one line per object that failed).
type errAlreadyReported struct{}

func (errAlreadyReported) Error() string { return "failed" }
