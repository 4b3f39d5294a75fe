package main

import (
	"fmt"
	"io"
	"os"
	"sync/atomic"
	"time"

	"github.com/skiffhq/skiff/daemon"
	"github.com/spf13/cobra"
)

func newSnapshotCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "snapshot",
		Short: "Save the cluster state for disaster recovery",
	}
	cmd.AddCommand(&cobra.Command{
		Use:   "save FILE",
		Short: "Save a consistent snapshot of the whole cluster state to FILE",
		Long:  "Save a consistent snapshot of the whole cluster state to FILE. Start a new cluster from it with `skiff server --restore FILE`.",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := g.client()
			if err != nil {
				return err
			}
			path := args[0]
			tmp := path + ".part"
			f, err := os.OpenFile(tmp, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o600)
			if err != nil {
				return err
			}
			defer os.Remove(tmp)
			counter := &countingWriter{w: f}
			done := make(chan struct{})
			go progress(done, counter)
			err = c.Snapshot(cmd.Context(), counter)
			close(done)
			if cerr := f.Close(); err == nil {
				err = cerr
			}
			if err != nil {
				return fmt.Errorf("saving the snapshot: %w", err)
			}
			info, err := daemon.VerifySnapshot(tmp)
			if err != nil {
				return fmt.Errorf("the snapshot received is not valid: %w", err)
			}
			if err := os.Rename(tmp, path); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "snapshot saved to %s: %d objects at revision %d, %d bytes\n", path, info.Objects, info.Revision, counter.n.Load())
			return nil
		},
	})
	return cmd
}

type countingWriter struct {
	w io.Writer
	n atomic.Int64
}

func (c *countingWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n.Add(int64(n))
	return n, err
}

// progress reports how much arrived, every second, when saving takes long.
func progress(done <-chan struct{}, c *countingWriter) {
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		select {
		case <-done:
			return
		case <-t.C:
			fmt.Fprintf(os.Stderr, "received %.1f MiB...\n", float64(c.n.Load())/(1<<20))
		}
	}
}
