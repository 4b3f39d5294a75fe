package containerlog

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"
)

// maxLine is the longest part stored as one line; longer lines are split
// into P(artial) records.
const maxLine = 16 << 10

// Spec is what the logger is told: "MAXBYTES:FILES:PATH".
type Spec struct {
	MaxBytes int64
	MaxFiles int
	Path     string
}

// ParseSpec reads the logger's argument.
func ParseSpec(arg string) (Spec, error) {
	parts := strings.SplitN(arg, ":", 3)
	if len(parts) != 3 {
		return Spec{}, fmt.Errorf("logger spec %q: want MAXBYTES:FILES:PATH", arg)
	}
	max, err1 := strconv.ParseInt(parts[0], 10, 64)
	files, err2 := strconv.Atoi(parts[1])
	if err1 != nil || err2 != nil || max <= 0 || files < 1 || !strings.HasPrefix(parts[2], "/") {
		return Spec{}, fmt.Errorf("logger spec %q: want MAXBYTES:FILES:/ABSOLUTE/PATH", arg)
	}
	return Spec{MaxBytes: max, MaxFiles: files, Path: parts[2]}, nil
}

// RunLogger is the logging process's main: containerd's shim passes the
// container's stdout as fd 3, stderr as fd 4 and a pipe to close once ready
// as fd 5. It returns when both streams have ended.
func RunLogger(spec Spec) error {
	stdout, stderr, ready := os.NewFile(3, "stdout"), os.NewFile(4, "stderr"), os.NewFile(5, "ready")
	w, err := NewWriter(spec, time.Now)
	if err != nil {
		ready.Close()
		return err
	}
	defer w.Close()
	if err := ready.Close(); err != nil {
		return err
	}
	var wg sync.WaitGroup
	for _, s := range []struct {
		name string
		r    io.Reader
	}{{"stdout", stdout}, {"stderr", stderr}} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			w.Copy(s.name, s.r)
		}()
	}
	wg.Wait()
	return nil
}

// Writer appends timestamped lines to a size-rotated file.
type Writer struct {
	spec Spec
	now  func() time.Time
	mu   sync.Mutex
	f    *os.File
	size int64
}

// NewWriter opens (appends to) spec.Path.
func NewWriter(spec Spec, now func() time.Time) (*Writer, error) {
	w := &Writer{spec: spec, now: now}
	if err := w.open(); err != nil {
		return nil, err
	}
	return w, nil
}

func (w *Writer) open() error {
	f, err := os.OpenFile(w.spec.Path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o640)
	if err != nil {
		return err
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return err
	}
	w.f, w.size = f, st.Size()
	return nil
}

// Copy stores every line read from r as stream's until r ends.
func (w *Writer) Copy(stream string, r io.Reader) {
	br := bufio.NewReaderSize(r, maxLine)
	for {
		line, err := br.ReadSlice('\n')
		if len(line) > 0 {
			tag := "P"
			if line[len(line)-1] == '\n' {
				tag, line = "F", line[:len(line)-1]
			}
			w.writeLine(stream, tag, line)
		}
		if err != nil && err != bufio.ErrBufferFull {
			return
		}
	}
}

func (w *Writer) writeLine(stream, tag string, line []byte) {
	rec := make([]byte, 0, len(line)+48)
	rec = w.now().UTC().AppendFormat(rec, time.RFC3339Nano)
	rec = append(rec, ' ')
	rec = append(rec, stream...)
	rec = append(rec, ' ')
	rec = append(rec, tag...)
	rec = append(rec, ' ')
	rec = append(rec, line...)
	rec = append(rec, '\n')
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.size > 0 && w.size+int64(len(rec)) > w.spec.MaxBytes {
		w.rotate()
	}
	n, _ := w.f.Write(rec)
	w.size += int64(n)
}

// rotate shifts PATH.N-1 to PATH.N ... PATH to PATH.1 and starts a new
// file; the oldest falls off.
func (w *Writer) rotate() {
	w.f.Close()
	for i := w.spec.MaxFiles - 1; i >= 1; i-- {
		from := rotated(w.spec.Path, i-1)
		_ = os.Rename(from, rotated(w.spec.Path, i))
	}
	if w.spec.MaxFiles == 1 {
		_ = os.Remove(w.spec.Path)
	}
	if err := w.open(); err != nil {
		// Nowhere left to write: drop output rather than block the
		// container on a full pipe.
		w.f, _ = os.Open(os.DevNull)
	}
}

// rotated names the i-th older file: PATH for 0, PATH.i otherwise.
func rotated(path string, i int) string {
	if i == 0 {
		return path
	}
	return path + "." + strconv.Itoa(i)
}

// Close closes the file.
func (w *Writer) Close() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.f.Close()
}
