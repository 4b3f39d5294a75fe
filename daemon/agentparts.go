package daemon

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/fsnotify/fsnotify"
	"github.com/skiffhq/skiff/agent/podnet"
	"github.com/skiffhq/skiff/agent/runtime"
)

// lateNetwork is the pod network, known only once the node has its pod
// CIDR; no pod runs before that.
type lateNetwork struct {
	mu    sync.RWMutex
	inner podnet.Network
}

var errNoPodCIDR = errors.New("the node has no pod CIDR yet")

func (l *lateNetwork) set(n podnet.Network) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.inner = n
}

func (l *lateNetwork) get() (podnet.Network, error) {
	l.mu.RLock()
	defer l.mu.RUnlock()
	if l.inner == nil {
		return nil, errNoPodCIDR
	}
	return l.inner, nil
}

func (l *lateNetwork) Setup(ctx context.Context, id string, opts podnet.SetupOptions) (*podnet.Attachment, error) {
	n, err := l.get()
	if err != nil {
		return nil, err
	}
	return n.Setup(ctx, id, opts)
}

func (l *lateNetwork) Teardown(ctx context.Context, id string, att *podnet.Attachment) error {
	n, err := l.get()
	if err != nil {
		return err
	}
	return n.Teardown(ctx, id, att)
}

func (l *lateNetwork) GC(ctx context.Context, keep func(string) bool) error {
	n, err := l.get()
	if err != nil {
		return err
	}
	return n.GC(ctx, keep)
}

// watchImageDir imports every tar in dir at start and whenever one is
// written there (air-gapped installs drop images in <data-dir>/images).
func watchImageDir(ctx context.Context, dir string, rt runtime.Runtime, log *slog.Logger) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		log.Warn("image directory", "err", err)
		return
	}
	imported := map[string]time.Time{}
	importFile := func(path string) {
		if !strings.HasSuffix(path, ".tar") {
			return
		}
		st, err := os.Stat(path)
		if err != nil || imported[path].Equal(st.ModTime()) {
			return
		}
		f, err := os.Open(path)
		if err != nil {
			log.Warn("importing an image", "file", path, "err", err)
			return
		}
		defer f.Close()
		imgs, err := rt.ImportImages(ctx, f)
		if err != nil {
			log.Warn("importing an image", "file", path, "err", err)
			return
		}
		imported[path] = st.ModTime()
		for _, i := range imgs {
			log.Info("image imported", "file", filepath.Base(path), "image", i.Ref)
		}
	}
	w, err := fsnotify.NewWatcher()
	if err != nil {
		log.Warn("watching the image directory", "err", err)
		return
	}
	defer w.Close()
	if err := w.Add(dir); err != nil {
		log.Warn("watching the image directory", "err", err)
		return
	}
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		importFile(filepath.Join(dir, e.Name()))
	}
	// A file is imported once it has been closed after writing, or
	// moved into place.
	for {
		select {
		case <-ctx.Done():
			return
		case ev := <-w.Events:
			if ev.Op&(fsnotify.Create|fsnotify.Write) != 0 {
				// Wait until the writer is done: sizes stop changing.
				time.Sleep(300 * time.Millisecond)
				importFile(ev.Name)
			}
		case err := <-w.Errors:
			log.Warn("watching the image directory", "err", err)
		}
	}
}
