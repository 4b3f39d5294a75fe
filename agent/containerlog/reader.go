package containerlog

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"time"
)

// ReadOptions select what Read writes.
type ReadOptions struct {
	// Tail keeps only the last Tail lines; negative means all.
	Tail int64
	// Since drops lines older than this; zero keeps all.
	Since time.Time
	// LimitBytes stops after this many bytes of output; 0 = no limit.
	LimitBytes int64
	// Timestamps prefixes each line with its time.
	Timestamps bool
	// Follow keeps reading new lines until ctx ends or Done reports true
	// and the file has no more.
	Follow bool
	// Done reports whether the writer has finished for good (the
	// container exited); only used with Follow.
	Done func() bool
	// Poll is how often a followed file is checked; default 200ms.
	Poll time.Duration
}

// record is one parsed line.
type record struct {
	time    []byte
	partial bool
	content []byte
}

func parse(line []byte) (record, bool) {
	ts, rest, ok := bytes.Cut(line, []byte{' '})
	if !ok {
		return record{}, false
	}
	_, rest, ok = bytes.Cut(rest, []byte{' '}) // stream
	if !ok {
		return record{}, false
	}
	tag, content, ok := bytes.Cut(rest, []byte{' '})
	if !ok {
		return record{}, false
	}
	return record{time: ts, partial: string(tag) == "P", content: content}, true
}

// Read writes the log at path (with its rotated predecessors) to w.
func Read(ctx context.Context, path string, opts ReadOptions, w io.Writer) error {
	if opts.Poll == 0 {
		opts.Poll = 200 * time.Millisecond
	}
	out := &limitWriter{w: w, left: opts.LimitBytes}
	emit := func(rec record) error {
		if !opts.Since.IsZero() {
			if t, err := time.Parse(time.RFC3339Nano, string(rec.time)); err == nil && t.Before(opts.Since) {
				return nil
			}
		}
		var buf []byte
		if opts.Timestamps {
			buf = append(append(buf, rec.time...), ' ')
		}
		buf = append(buf, rec.content...)
		if !rec.partial {
			buf = append(buf, '\n')
		}
		_, err := out.Write(buf)
		return err
	}
	// History: the rotated files, oldest first, then the current one.
	var lines [][]byte
	for i := 9; i >= 1; i-- {
		if raw, err := os.ReadFile(rotated(path, i)); err == nil {
			lines = append(lines, splitLines(raw)...)
		}
	}
	f, err := os.Open(path)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) && len(lines) == 0 && !opts.Follow {
			return nil
		}
		if !errors.Is(err, os.ErrNotExist) {
			return err
		}
	}
	var offset int64
	if f != nil {
		raw, err := io.ReadAll(f)
		if err != nil {
			f.Close()
			return err
		}
		// Only whole lines count; a half-written one is read on follow.
		if i := bytes.LastIndexByte(raw, '\n'); i >= 0 {
			lines = append(lines, splitLines(raw[:i+1])...)
			offset = int64(i + 1)
		}
		if !opts.Follow {
			f.Close()
		}
	}
	if opts.Tail >= 0 && int64(len(lines)) > opts.Tail {
		lines = lines[int64(len(lines))-opts.Tail:]
	}
	for _, l := range lines {
		if rec, ok := parse(l); ok {
			if err := emit(rec); err != nil {
				if f != nil && opts.Follow {
					f.Close()
				}
				return ignoreLimit(err)
			}
		}
	}
	if !opts.Follow {
		return nil
	}
	// Follow goes on in the file just read, not in whatever path names by
	// now: a rotation in between would make offset point into another
	// file.
	return follow(ctx, path, f, offset, opts, emit)
}

// follow reads lines appended to f (path when nil) from offset. It keeps
// the file open, so a rotation cannot hand its inode to another file: at
// the end of the open file it checks whether path now names a new one,
// drains the old and moves on. It closes f.
func follow(ctx context.Context, path string, f *os.File, offset int64, opts ReadOptions, emit func(record) error) error {
	if f != nil {
		if _, err := f.Seek(offset, io.SeekStart); err != nil {
			f.Close()
			return err
		}
	}
	defer func() {
		if f != nil {
			f.Close()
		}
	}()
	var pending []byte
	// movedOn: path names another file than f. The writer closed f
	// before the rename, but it may have appended to it after our last
	// read: f is read to its end once more before the switch.
	movedOn := false
	buf := make([]byte, 64<<10)
	tick := time.NewTicker(opts.Poll)
	defer tick.Stop()
	for {
		done := opts.Done != nil && opts.Done()
		if f == nil {
			var err error
			if f, err = os.Open(path); err != nil && !errors.Is(err, os.ErrNotExist) {
				return err
			}
			if f != nil {
				if _, err := f.Seek(offset, io.SeekStart); err != nil {
					return err
				}
			}
		}
		progressed := false
		if f != nil {
			n, _ := f.Read(buf)
			if n > 0 {
				progressed = true
				pending = append(pending, buf[:n]...)
				for {
					i := bytes.IndexByte(pending, '\n')
					if i < 0 {
						break
					}
					if rec, ok := parse(pending[:i]); ok {
						if err := emit(rec); err != nil {
							return ignoreLimit(err)
						}
					}
					pending = pending[i+1:]
				}
			} else if movedOn {
				f.Close()
				f, offset, pending, progressed, movedOn = nil, 0, nil, true, false
			} else if rotatedAway(f, path) {
				movedOn, progressed = true, true
			}
		}
		if progressed {
			continue
		}
		if done {
			return nil
		}
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
		}
	}
}

// rotatedAway reports whether path now names another file than f.
func rotatedAway(f *os.File, path string) bool {
	cur, err := f.Stat()
	if err != nil {
		return true
	}
	now, err := os.Stat(path)
	if err != nil {
		return false // between the rename and the new file
	}
	return !os.SameFile(cur, now)
}

func splitLines(raw []byte) [][]byte {
	var out [][]byte
	sc := bufio.NewScanner(bytes.NewReader(raw))
	sc.Buffer(make([]byte, 0, 64<<10), maxLine+256)
	for sc.Scan() {
		out = append(out, append([]byte(nil), sc.Bytes()...))
	}
	return out
}

var errLimit = errors.New("byte limit reached")

func ignoreLimit(err error) error {
	if errors.Is(err, errLimit) {
		return nil
	}
	return err
}

type limitWriter struct {
	w    io.Writer
	left int64 // 0 = unlimited
}

func (l *limitWriter) Write(p []byte) (int, error) {
	switch {
	case l.left == 0:
		return l.w.Write(p)
	case l.left < 0:
		return 0, errLimit
	case int64(len(p)) >= l.left:
		n, err := l.w.Write(p[:l.left])
		l.left = -1
		if err == nil {
			err = errLimit
		}
		return n, err
	}
	l.left -= int64(len(p))
	return l.w.Write(p)
}
