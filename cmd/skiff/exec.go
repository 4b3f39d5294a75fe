package main

import (
	"fmt"
	"io"
	"strings"

	"github.com/spf13/cobra"
)

func newExecCmd(g *globals) *cobra.Command {
	var container string
	var stdin bool
	cmd := &cobra.Command{
		Use:   "exec POD [-c CONTAINER] [-i] -- COMMAND [ARG...]",
		Short: "Run a command in a container of a pod; skiff exits with its exit code",
		Example: `  skiff exec web -- ls -l /
  skiff exec pod/web -c sidecar -- cat /etc/hosts
  echo hello | skiff exec web -i -- cat`,
		RunE: func(cmd *cobra.Command, args []string) error {
			pod, command, err := parseExecArgs(args, cmd.ArgsLenAtDash())
			if err != nil {
				return err
			}
			c, err := g.client()
			if err != nil {
				return err
			}
			var in io.Reader
			if stdin {
				in = cmd.InOrStdin()
			}
			code, err := c.Exec(cmd.Context(), g.ns(), pod, container, command, in, cmd.OutOrStdout(), cmd.ErrOrStderr())
			if err != nil {
				if cmd.Context().Err() != nil {
					return exitCodeError{code: 130} // interrupted, as a shell says it
				}
				return err
			}
			if code != 0 {
				return exitCodeError{code: code}
			}
			return nil
		},
	}
	cmd.SetFlagErrorFunc(func(_ *cobra.Command, err error) error {
		return fmt.Errorf("%w (the command and its flags go after --: %s)", err, execUsage)
	})
	cmd.Flags().StringVarP(&container, "container", "c", "", "the container (needed when the pod has several)")
	cmd.Flags().BoolVarP(&stdin, "stdin", "i", false, "send this terminal's stdin to the command")
	g.addNamespaceFlag(cmd)
	return cmd
}

const execUsage = "skiff exec POD [-c CONTAINER] [-i] -- COMMAND [ARG...]"

// parseExecArgs splits POD -- COMMAND ARGS; dash is where -- was
// (cobra's ArgsLenAtDash, -1 when absent).
func parseExecArgs(args []string, dash int) (pod string, command []string, err error) {
	switch {
	case dash < 0 && len(args) == 0:
		return "", nil, fmt.Errorf("exec needs a pod and a command: %s", execUsage)
	case dash < 0 && len(args) == 1:
		return "", nil, fmt.Errorf("exec needs a command after --: %s", execUsage)
	case dash < 0:
		return "", nil, fmt.Errorf("put the command after --: skiff exec %s -- %s", args[0], strings.Join(args[1:], " "))
	case dash == 0:
		return "", nil, fmt.Errorf("exec needs a pod before --: %s", execUsage)
	case dash > 1:
		return "", nil, fmt.Errorf("exec takes one pod before --, got %d (%s): %s", dash, strings.Join(args[:dash], " "), execUsage)
	case len(args) == dash || args[dash] == "":
		return "", nil, fmt.Errorf("exec needs a command after --: %s", execUsage)
	}
	pod, err = parsePodArg(args[0])
	if err != nil {
		return "", nil, err
	}
	return pod, args[dash:], nil
}

// exitCodeError makes skiff exit with a code other than 1 (the exit code
// of the command `skiff exec` ran); whatever explains it has been printed.
type exitCodeError struct{ code int }

func (e exitCodeError) Error() string { return fmt.Sprintf("exit code %d", e.code) }
