package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync/atomic"
	"text/tabwriter"
	"time"

	"github.com/skiffhq/skiff/apis/client"
	"github.com/skiffhq/skiff/apis/skiffv1"
	"github.com/spf13/cobra"
)

func newImageCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{Use: "image", Short: "Import images into the nodes, and list them"}
	var importNode, listNode string
	importCmd := &cobra.Command{
		Use:   "import FILE [--node NODE]",
		Short: "Import an image archive (docker save, or an OCI layout tar) into every Ready node, or one",
		Example: `  docker save skiff.local/echo:1 -o echo.tar && skiff image import echo.tar
  skiff image import echo.tar --node n2`,
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) != 1 {
				return fmt.Errorf("image import takes one FILE (a tar from `docker save` or an OCI layout), got %d arguments", len(args))
			}
			c, err := g.client()
			if err != nil {
				return err
			}
			return runImageImport(cmd.Context(), c, args[0], importNode, cmd.OutOrStdout(), cmd.ErrOrStderr())
		},
	}
	importCmd.Flags().StringVar(&importNode, "node", "", "import into this node only (default: every Ready node)")
	listCmd := &cobra.Command{
		Use:     "ls [--node NODE]",
		Aliases: []string{"list"},
		Short:   "List the images every Ready node holds, or one node",
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) != 0 {
				return fmt.Errorf("image ls takes no arguments (use --node NODE for one node), got %q", strings.Join(args, " "))
			}
			c, err := g.client()
			if err != nil {
				return err
			}
			res, err := c.ListImages(cmd.Context(), listNode)
			if err != nil {
				return err
			}
			if printImageList(cmd.OutOrStdout(), cmd.ErrOrStderr(), res) {
				return errAlreadyReported{}
			}
			return nil
		},
	}
	listCmd.Flags().StringVar(&listNode, "node", "", "list this node's images only (default: every Ready node)")
	cmd.AddCommand(importCmd, listCmd)
	return cmd
}

func runImageImport(ctx context.Context, c *client.Client, path, node string, stdout, stderr io.Writer) error {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("image import: %w", err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return fmt.Errorf("image import: %w", err)
	}
	if fi.IsDir() {
		return fmt.Errorf("image import: %s is a directory: give the archive (a tar from `docker save` or an OCI layout)", path)
	}
	if fi.Size() == 0 {
		return fmt.Errorf("image import: %s is empty", path)
	}
	pr := &progressReader{r: f, total: fi.Size()}
	stop := showProgress(stderr, filepath.Base(path), pr, isTerminal(stderr))
	res, err := c.ImportImage(ctx, node, pr)
	stop(err == nil)
	if err != nil {
		return err
	}
	if printImportResults(stdout, res) {
		return errAlreadyReported{}
	}
	return nil
}

// printImportResults writes one line per node and reports whether a node
// failed.
func printImportResults(out io.Writer, res []skiffv1.NodeImages) (failed bool) {
	tw := tabwriter.NewWriter(out, 0, 8, 2, ' ', 0)
	for _, r := range res {
		switch {
		case r.Error != "":
			fmt.Fprintf(tw, "%s\terror: %s\n", r.Node, r.Error)
			failed = true
		case len(r.Images) == 0:
			fmt.Fprintf(tw, "%s\timported nothing: the archive names no image\n", r.Node)
		default:
			var parts []string
			for _, img := range r.Images {
				parts = append(parts, fmt.Sprintf("%s (%s, %s)", img.Ref, shortDigest(img.Digest), humanBytes(img.Size)))
			}
			fmt.Fprintf(tw, "%s\timported %s\n", r.Node, strings.Join(parts, ", "))
		}
	}
	tw.Flush()
	return failed
}

// printImageList writes the NODE REFERENCE DIGEST SIZE table, and each
// node's error to errOut; it reports whether a node failed.
func printImageList(out, errOut io.Writer, res []skiffv1.NodeImages) (failed bool) {
	tw := tabwriter.NewWriter(out, 0, 8, 3, ' ', 0)
	fmt.Fprintln(tw, "NODE\tREFERENCE\tDIGEST\tSIZE")
	for _, r := range res {
		images := append([]skiffv1.Image(nil), r.Images...)
		sort.Slice(images, func(i, j int) bool { return images[i].Ref < images[j].Ref })
		for _, img := range images {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", r.Node, img.Ref, shortDigest(img.Digest), humanBytes(img.Size))
		}
	}
	tw.Flush()
	for _, r := range res {
		if r.Error != "" {
			fmt.Fprintf(errOut, "error: node %s: %s\n", r.Node, r.Error)
			failed = true
		}
	}
	return failed
}

// shortDigest is "sha256:" and the first 12 hex digits, as docker shows.
func shortDigest(d string) string {
	algo, hex, ok := strings.Cut(d, ":")
	if !ok || len(hex) <= 12 {
		return d
	}
	return algo + ":" + hex[:12] + "…"
}

// humanBytes formats a size in SI units: 5.1 MB.
func humanBytes(n int64) string {
	if n < 1000 {
		return fmt.Sprintf("%d B", n)
	}
	v := float64(n)
	for _, unit := range []string{"kB", "MB", "GB", "TB"} {
		v /= 1000
		if v < 999.95 || unit == "TB" {
			return fmt.Sprintf("%.1f %s", v, unit)
		}
	}
	panic("unreachable")
}

// progressReader counts what the upload has read.
type progressReader struct {
	r     io.Reader
	total int64
	n     atomic.Int64
}

func (p *progressReader) Read(b []byte) (int, error) {
	n, err := p.r.Read(b)
	p.n.Add(int64(n))
	return n, err
}

// Size lets the client send a Content-Length.
func (p *progressReader) Size() int64 { return p.total - p.n.Load() }

// showProgress reports an upload on w: on a terminal a line redrawn as
// bytes go out, else one line at the end. stop(ok) ends it.
func showProgress(w io.Writer, name string, pr *progressReader, tty bool) (stop func(ok bool)) {
	if !tty {
		return func(ok bool) {
			if ok {
				fmt.Fprintf(w, "sent %s (%s)\n", humanBytes(pr.n.Load()), name)
			}
		}
	}
	done := make(chan struct{})
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		t := time.NewTicker(200 * time.Millisecond)
		defer t.Stop()
		for {
			fmt.Fprintf(w, "\r%s\x1b[K", progressLine(name, pr.n.Load(), pr.total))
			select {
			case <-done:
				fmt.Fprintln(w)
				return
			case <-t.C:
			}
		}
	}()
	return func(bool) {
		close(done)
		<-finished
	}
}

func progressLine(name string, sent, total int64) string {
	if sent >= total {
		return fmt.Sprintf("%s: sent %s, importing on the nodes…", name, humanBytes(total))
	}
	return fmt.Sprintf("%s: sending %s / %s (%d%%)", name, humanBytes(sent), humanBytes(total), sent*100/max(total, 1))
}

// isTerminal reports whether w is a terminal.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}
