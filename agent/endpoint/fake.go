package endpoint

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"github.com/skiffhq/skiff/apis/metricsstore"
	"io"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Fake is an in-memory Backend for tests: pods with canned logs, an exec
// that knows a few commands, and images read from the archives given.
//
// Exec understands:
//
//	echo ARGS...         ARGS on stdout
//	cat                  stdin to stdout
//	cat FILE...          the containers' Files; a missing one: stderr, exit 1
//	sleep SECONDS        waits (or until the request ends)
//	sh -c "STMT; ..."    statements `echo ...`, `echo ... >&2`, `exit N`
//
// Anything else writes "command not found" on stderr and exits 127.
type Fake struct {
	mu      sync.Mutex
	pods    map[string][]*fakeContainer // "namespace/pod"
	images  []Image
	changed chan struct{} // closed, and replaced, whenever a log grows or ends
	// ImportErr, when set, fails ImportImages.
	ImportErr error
	// Report is what Usage returns.
	Report *metricsstore.Report
}

// FakeContainer describes a container of a fake pod.
type FakeContainer struct {
	Name string
	// Stopped makes exec fail with ErrNotRunning.
	Stopped bool
	// Log and PreviousLog are the current and the previous instance's
	// lines; a nil PreviousLog means the container never restarted.
	Log, PreviousLog []FakeLine
	// Files are what `cat FILE` finds.
	Files map[string]string
}

// FakeLine is one line of a log, without its newline. A zero Time is set
// to the time the line was added.
type FakeLine struct {
	Time time.Time
	Text string
}

type fakeContainer struct {
	FakeContainer
	ended bool // the log will not grow any more
}

// NewFake returns an empty Fake.
func NewFake() *Fake {
	return &Fake{pods: map[string][]*fakeContainer{}, changed: make(chan struct{})}
}

// AddPod adds (or replaces) a pod.
func (f *Fake) AddPod(namespace, name string, containers ...FakeContainer) {
	f.mu.Lock()
	defer f.mu.Unlock()
	now := time.Now()
	var cs []*fakeContainer
	for _, c := range containers {
		c.Log = stamp(c.Log, now)
		c.PreviousLog = stamp(c.PreviousLog, now)
		cs = append(cs, &fakeContainer{FakeContainer: c})
	}
	f.pods[namespace+"/"+name] = cs
}

func stamp(lines []FakeLine, now time.Time) []FakeLine {
	if lines == nil {
		return nil
	}
	out := make([]FakeLine, len(lines))
	for i, l := range lines {
		if l.Time.IsZero() {
			l.Time = now
		}
		out[i] = l
	}
	return out
}

// AppendLog adds a line to a container's current log, waking followers.
func (f *Fake) AppendLog(namespace, pod, container, text string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if c, err := f.container(namespace, pod, container); err == nil {
		c.Log = append(c.Log, FakeLine{Time: time.Now(), Text: text})
		f.notify()
	}
}

// EndLog ends a container's log for good: followers return.
func (f *Fake) EndLog(namespace, pod, container string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if c, err := f.container(namespace, pod, container); err == nil {
		c.ended = true
		f.notify()
	}
}

// AddImage records an image as present.
func (f *Fake) AddImage(img Image) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.addImage(img)
}

func (f *Fake) addImage(img Image) {
	for i, have := range f.images {
		if have.Ref == img.Ref {
			f.images[i] = img
			return
		}
	}
	f.images = append(f.images, img)
}

func (f *Fake) notify() {
	close(f.changed)
	f.changed = make(chan struct{})
}

// container finds a container; f.mu must be held.
func (f *Fake) container(namespace, pod, name string) (*fakeContainer, error) {
	cs, ok := f.pods[namespace+"/"+pod]
	if !ok {
		return nil, ErrPodNotFound
	}
	for _, c := range cs {
		if c.Name == name {
			return c, nil
		}
	}
	return nil, ErrContainerNotFound
}

// Logs implements Backend.
func (f *Fake) Logs(ctx context.Context, namespace, pod, container string, opts LogOptions, w io.Writer) error {
	f.mu.Lock()
	c, err := f.container(namespace, pod, container)
	if err != nil {
		f.mu.Unlock()
		return err
	}
	lines, ended := c.Log, c.ended
	if opts.Previous {
		if c.PreviousLog == nil {
			f.mu.Unlock()
			return fmt.Errorf("%w: it has no previous instance", ErrContainerNotFound)
		}
		lines, ended = c.PreviousLog, true
	}
	changed := f.changed
	f.mu.Unlock()

	next := len(lines) // where following resumes
	if opts.SinceSeconds > 0 {
		since := time.Now().Add(-time.Duration(opts.SinceSeconds) * time.Second)
		for len(lines) > 0 && lines[0].Time.Before(since) {
			lines = lines[1:]
		}
	}
	if opts.Tail >= 0 && int64(len(lines)) > opts.Tail {
		lines = lines[int64(len(lines))-opts.Tail:]
	}
	if err := writeLines(w, lines, opts.Timestamps); err != nil {
		return err
	}
	if !opts.Follow {
		return nil
	}
	for !ended {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-changed:
		}
		f.mu.Lock()
		lines, ended, changed = c.Log[next:], c.ended, f.changed
		next = len(c.Log)
		f.mu.Unlock()
		if err := writeLines(w, lines, opts.Timestamps); err != nil {
			return err
		}
	}
	return nil
}

func writeLines(w io.Writer, lines []FakeLine, timestamps bool) error {
	for _, l := range lines {
		s := l.Text + "\n"
		if timestamps {
			s = l.Time.UTC().Format(time.RFC3339Nano) + " " + s
		}
		if _, err := io.WriteString(w, s); err != nil {
			return err
		}
	}
	return nil
}

// Exec implements Backend.
func (f *Fake) Exec(ctx context.Context, namespace, pod, container string, cmd []string, stdin io.Reader, stdout, stderr io.Writer) (int, error) {
	f.mu.Lock()
	c, err := f.container(namespace, pod, container)
	var files map[string]string
	if err == nil {
		if c.Stopped {
			err = ErrNotRunning
		}
		files = c.Files
	}
	f.mu.Unlock()
	if err != nil {
		return -1, err
	}
	if len(cmd) == 0 {
		return -1, fmt.Errorf("%w: no command", ErrBadRequest)
	}
	switch cmd[0] {
	case "echo":
		_, err := fmt.Fprintln(stdout, strings.Join(cmd[1:], " "))
		return 0, err
	case "cat":
		if len(cmd) == 1 {
			if stdin == nil {
				return 0, nil
			}
			_, err := io.Copy(stdout, stdin)
			return 0, err
		}
		code := 0
		for _, name := range cmd[1:] {
			content, ok := files[name]
			if !ok {
				fmt.Fprintf(stderr, "cat: %s: No such file or directory\n", name)
				code = 1
				continue
			}
			if _, err := io.WriteString(stdout, content); err != nil {
				return -1, err
			}
		}
		return code, nil
	case "sleep":
		secs, err := strconv.ParseFloat(strings.Join(cmd[1:], ""), 64)
		if err != nil {
			fmt.Fprintf(stderr, "sleep: invalid time interval %q\n", strings.Join(cmd[1:], " "))
			return 1, nil
		}
		select {
		case <-time.After(time.Duration(secs * float64(time.Second))):
			return 0, nil
		case <-ctx.Done():
			return -1, ctx.Err()
		}
	case "sh":
		if len(cmd) == 3 && cmd[1] == "-c" {
			return fakeShell(cmd[2], stdout, stderr)
		}
	}
	fmt.Fprintf(stderr, "%s: command not found\n", cmd[0])
	return 127, nil
}

// fakeShell runs `echo ...`, `echo ... >&2` and `exit N` statements.
func fakeShell(script string, stdout, stderr io.Writer) (int, error) {
	for _, stmt := range strings.Split(script, ";") {
		fields := strings.Fields(stmt)
		switch {
		case len(fields) == 0:
		case fields[0] == "exit":
			code := 0
			if len(fields) > 1 {
				n, err := strconv.Atoi(fields[1])
				if err != nil {
					fmt.Fprintf(stderr, "sh: exit: %s: numeric argument required\n", fields[1])
					return 2, nil
				}
				code = n
			}
			return code, nil
		case fields[0] == "echo":
			out := stdout
			if fields[len(fields)-1] == ">&2" {
				out, fields = stderr, fields[:len(fields)-1]
			}
			if _, err := fmt.Fprintln(out, strings.Join(fields[1:], " ")); err != nil {
				return -1, err
			}
		default:
			fmt.Fprintf(stderr, "sh: %s: not found\n", fields[0])
			return 127, nil
		}
	}
	return 0, nil
}

// ImportImages implements Backend: it reads the image names of a
// docker-archive (manifest.json RepoTags) or an OCI layout (index.json
// annotations) and records each with the archive's digest and size.
func (f *Fake) ImportImages(ctx context.Context, archive io.Reader) ([]Image, error) {
	f.mu.Lock()
	failure := f.ImportErr
	f.mu.Unlock()
	if failure != nil {
		return nil, failure
	}
	h := sha256.New()
	var buf bytes.Buffer
	size, err := io.Copy(io.MultiWriter(h, &buf), archive)
	if err != nil {
		return nil, fmt.Errorf("reading the archive: %w", err)
	}
	refs, err := archiveRefs(&buf)
	if err != nil {
		return nil, err
	}
	digest := "sha256:" + hex.EncodeToString(h.Sum(nil))
	var out []Image
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, ref := range refs {
		img := Image{Ref: ref, Digest: digest, Size: size}
		f.addImage(img)
		out = append(out, img)
	}
	return out, nil
}

func archiveRefs(r io.Reader) ([]string, error) {
	tr := tar.NewReader(r)
	var refs []string
	seen := map[string]bool{}
	add := func(ref string) {
		if ref != "" && !seen[ref] {
			seen[ref] = true
			refs = append(refs, ref)
		}
	}
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			return refs, nil
		}
		if err != nil {
			return nil, fmt.Errorf("%w: the archive is not a tar: %v", ErrBadRequest, err)
		}
		switch strings.TrimPrefix(hdr.Name, "./") {
		case "manifest.json":
			var m []struct{ RepoTags []string }
			if err := json.NewDecoder(tr).Decode(&m); err != nil {
				return nil, fmt.Errorf("%w: manifest.json: %v", ErrBadRequest, err)
			}
			for _, e := range m {
				for _, ref := range e.RepoTags {
					add(ref)
				}
			}
		case "index.json":
			var idx struct {
				Manifests []struct {
					Annotations map[string]string `json:"annotations"`
				} `json:"manifests"`
			}
			if err := json.NewDecoder(tr).Decode(&idx); err != nil {
				return nil, fmt.Errorf("%w: index.json: %v", ErrBadRequest, err)
			}
			for _, m := range idx.Manifests {
				if ref := m.Annotations["io.containerd.image.name"]; ref != "" {
					add(ref)
				} else {
					add(m.Annotations["org.opencontainers.image.ref.name"])
				}
			}
		}
	}
}

// ListImages implements Backend.
func (f *Fake) ListImages(ctx context.Context) ([]Image, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]Image(nil), f.images...), nil
}

// Usage implements Backend.
func (f *Fake) Usage() *metricsstore.Report {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.Report
}

var _ Backend = (*Fake)(nil)
