package server

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/skiffhq/skiff/apis/storage"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/labels"
)

func (s *Server) get(w http.ResponseWriter, r *http.Request, t *target) {
	stale := r.URL.Query().Get("resourceVersion") == "0"
	rec, err := s.store.Get(r.Context(), t.res, t.namespace, t.name, stale)
	if err != nil {
		writeError(w, err)
		return
	}
	writeRaw(w, http.StatusOK, rec.JSON())
}

// selection reads labelSelector and fieldSelector.
func (s *Server) selection(r *http.Request, t *target) (storage.Selection, error) {
	q := r.URL.Query()
	sel := storage.Selection{Namespace: t.namespace}
	if v := q.Get("labelSelector"); v != "" {
		ls, err := labels.Parse(v)
		if err != nil {
			return sel, badRequest("labelSelector %q: %v", v, err)
		}
		sel.Labels = ls
	}
	if v := q.Get("fieldSelector"); v != "" {
		fs, err := fields.ParseSelector(v)
		if err != nil {
			return sel, badRequest("fieldSelector %q: %v", v, err)
		}
		known := t.res.SelectableFields(t.res.New())
		for _, req := range fs.Requirements() {
			if _, ok := known[req.Field]; !ok {
				return sel, badRequest("fieldSelector: field label %q is not supported for %s (supported: %s)", req.Field, t.res.Plural, fieldNames(known))
			}
		}
		sel.Fields = fs
	}
	return sel, nil
}

func fieldNames(set fields.Set) string {
	return fields.SelectorFromSet(set).String()
}

func (s *Server) list(w http.ResponseWriter, r *http.Request, t *target) {
	if t.subresource != "" {
		writeError(w, methodNotAllowed(r.Method, r.URL.Path))
		return
	}
	sel, err := s.selection(r, t)
	if err != nil {
		writeError(w, err)
		return
	}
	q := r.URL.Query()
	opts := storage.ListOptions{Selection: sel, Continue: q.Get("continue"), Stale: q.Get("resourceVersion") == "0"}
	if v := q.Get("limit"); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < 0 {
			writeError(w, badRequest("limit %q: must be a non-negative integer", v))
			return
		}
		opts.Limit = n
	}
	res, err := s.store.List(r.Context(), t.res, opts)
	if err != nil {
		writeError(w, err)
		return
	}
	writeList(w, t, res)
}

// writeList writes a list of records as stored, without decoding and
// encoding them again.
func writeList(w http.ResponseWriter, t *target, res *storage.ListResult) {
	w.Header().Set("Content-Type", "application/json")
	bw := bufio.NewWriterSize(w, 64<<10)
	fmt.Fprintf(bw, `{"kind":%q,"apiVersion":%q,"metadata":{"resourceVersion":"%d"`, t.res.Kind+"List", t.res.GroupVersion(), res.Revision)
	if res.Continue != "" {
		fmt.Fprintf(bw, `,"continue":%q`, res.Continue)
	}
	bw.WriteString(`},"items":[`)
	for i, rec := range res.Items {
		if i > 0 {
			bw.WriteByte(',')
		}
		bw.Write(rec.JSON())
	}
	bw.WriteString("]}\n")
	_ = bw.Flush()
}

func (s *Server) watch(w http.ResponseWriter, r *http.Request, t *target) {
	sel, err := s.selection(r, t)
	if err != nil {
		writeError(w, err)
		return
	}
	q := r.URL.Query()
	from, err := parseRV(q.Get("resourceVersion"))
	if err != nil {
		writeError(w, err)
		return
	}
	ctx := r.Context()
	if v := q.Get("timeoutSeconds"); v != "" {
		secs, err := strconv.Atoi(v)
		if err != nil || secs < 0 {
			writeError(w, badRequest("timeoutSeconds %q: must be a non-negative integer", v))
			return
		}
		if secs > 0 {
			var cancel context.CancelFunc
			ctx, cancel = context.WithTimeout(ctx, time.Duration(secs)*time.Second)
			defer cancel()
		}
	}
	wt, err := s.store.Watch(ctx, t.res, storage.WatchOptions{Selection: sel, ResourceVersion: from})
	if errors.Is(err, storage.ErrTooOld) {
		writeError(w, apierrors.NewResourceExpired(fmt.Sprintf("too old resource version: %d: %v", from, err)))
		return
	}
	if err != nil {
		writeError(w, err)
		return
	}
	defer wt.Stop()
	flusher, _ := w.(http.Flusher)
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-cache")
	w.WriteHeader(http.StatusOK)
	if flusher != nil {
		flusher.Flush()
	}
	bw := bufio.NewWriterSize(w, 32<<10)
	events := wt.Events()
	for {
		select {
		case <-ctx.Done():
			return
		case ev, ok := <-events:
			if !ok {
				if errors.Is(wt.Err(), storage.ErrReset) {
					writeWatchError(bw, apierrors.NewResourceExpired("the store was restored from a snapshot: list again"))
					bw.Flush()
				}
				// A watcher cut off for being slow just ends: the client
				// resumes from the last resourceVersion it saw.
				return
			}
			fmt.Fprintf(bw, `{"type":%q,"object":`, ev.Type)
			bw.Write(ev.Object.JSON())
			bw.WriteString("}\n")
			// Flush when nothing more is waiting, so bursts go out together.
			if len(events) == 0 {
				if bw.Flush() != nil {
					return
				}
				if flusher != nil {
					flusher.Flush()
				}
			}
		}
	}
}

func writeWatchError(bw *bufio.Writer, err error) {
	st := statusOf(err)
	fmt.Fprintf(bw, `{"type":"ERROR","object":{"kind":"Status","apiVersion":"v1","status":"Failure","message":%q,"reason":%q,"code":%d}}`+"\n",
		st.Message, st.Reason, st.Code)
}
