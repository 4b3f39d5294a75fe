package main

import (
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/skiffhq/skiff/apis/client"
	"github.com/spf13/cobra"
)

type logsOptions struct {
	container  string
	follow     bool
	previous   bool
	timestamps bool
	tail       int64
	since      time.Duration
	limitBytes int64
}

func newLogsCmd(g *globals) *cobra.Command {
	o := &logsOptions{}
	cmd := &cobra.Command{
		Use:   "logs POD [-c CONTAINER]",
		Short: "Print the log of a container of a pod",
		Example: `  skiff logs web
  skiff logs pod/web -c sidecar -f
  skiff logs web --tail 20 --timestamps
  skiff logs web --previous      # the instance before the last restart`,
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) != 1 {
				return fmt.Errorf("logs takes one pod, got %d arguments: skiff logs POD [-c CONTAINER]", len(args))
			}
			pod, err := parsePodArg(args[0])
			if err != nil {
				return err
			}
			opts, err := o.clientOptions()
			if err != nil {
				return err
			}
			c, err := g.client()
			if err != nil {
				return err
			}
			rc, err := c.Logs(cmd.Context(), g.ns(), pod, opts)
			if err != nil {
				return err
			}
			defer rc.Close()
			_, err = io.Copy(cmd.OutOrStdout(), rc)
			if err != nil && cmd.Context().Err() != nil {
				return nil // interrupted while following
			}
			return err
		},
	}
	f := cmd.Flags()
	f.StringVarP(&o.container, "container", "c", "", "the container (needed when the pod has several)")
	f.BoolVarP(&o.follow, "follow", "f", false, "keep printing lines as they come")
	f.BoolVarP(&o.previous, "previous", "p", false, "the log of the container's previous instance (before its last restart)")
	f.BoolVar(&o.timestamps, "timestamps", false, "prefix each line with its time (RFC3339Nano)")
	f.Int64Var(&o.tail, "tail", -1, "print only the last N lines; -1 = all")
	f.DurationVar(&o.since, "since", 0, "print only lines younger than this (5s, 2m, 3h)")
	f.Int64Var(&o.limitBytes, "limit-bytes", 0, "stop after this many bytes; 0 = no limit")
	g.addNamespaceFlag(cmd)
	return cmd
}

func (o *logsOptions) clientOptions() (client.LogOptions, error) {
	opts := client.LogOptions{Container: o.container, Follow: o.follow, Previous: o.previous, Timestamps: o.timestamps, LimitBytes: o.limitBytes}
	switch {
	case o.tail < -1:
		return opts, fmt.Errorf("--tail %d: give a number of lines, or -1 for all", o.tail)
	case o.since < 0:
		return opts, fmt.Errorf("--since %s: must be positive", o.since)
	case o.limitBytes < 0:
		return opts, fmt.Errorf("--limit-bytes %d: must be positive (0 = no limit)", o.limitBytes)
	}
	if o.tail >= 0 {
		tail := o.tail
		opts.TailLines = &tail
	}
	if o.since > 0 {
		// Rounded up: --since 500ms still asks for something.
		opts.SinceSeconds = int64((o.since + time.Second - 1) / time.Second)
	}
	return opts, nil
}

// parsePodArg reads POD or pod/POD (also pods/, po/).
func parsePodArg(arg string) (string, error) {
	if arg == "" {
		return "", errors.New("the pod name is empty")
	}
	typ, name, ok := strings.Cut(arg, "/")
	if !ok {
		return arg, nil
	}
	switch strings.ToLower(typ) {
	case "pod", "pods", "po":
	default:
		return "", fmt.Errorf("%q is not a pod: give POD or pod/POD", arg)
	}
	if name == "" || strings.Contains(name, "/") {
		return "", fmt.Errorf("%q: give POD or pod/POD", arg)
	}
	return name, nil
}
