package containerlog

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func fixedClock() func() time.Time {
	t := time.Date(2026, 12, 2, 15, 0, 0, 0, time.UTC)
	return func() time.Time { t = t.Add(time.Second); return t }
}

func TestWriterAndReader(t *testing.T) {
	path := filepath.Join(t.TempDir(), "0.log")
	w, err := NewWriter(Spec{MaxBytes: 1 << 20, MaxFiles: 2, Path: path}, fixedClock())
	if err != nil {
		t.Fatal(err)
	}
	w.Copy("stdout", strings.NewReader("one\ntwo\nthree"))
	w.Copy("stderr", strings.NewReader("err\n"))
	w.Close()
	raw, _ := os.ReadFile(path)
	if !strings.HasPrefix(string(raw), "2026-12-02T15:00:01Z stdout F one\n") || !strings.Contains(string(raw), "stdout P three\n") {
		t.Fatalf("stored:\n%s", raw)
	}
	cases := []struct {
		name string
		opts ReadOptions
		want string
	}{
		{"all", ReadOptions{Tail: -1}, "one\ntwo\nthreeerr\n"},
		{"tail 2", ReadOptions{Tail: 2}, "threeerr\n"},
		{"timestamps", ReadOptions{Tail: 1, Timestamps: true}, "2026-12-02T15:00:04Z err\n"},
		{"since", ReadOptions{Tail: -1, Since: time.Date(2026, 12, 2, 15, 0, 3, 0, time.UTC)}, "threeerr\n"},
		{"limit", ReadOptions{Tail: -1, LimitBytes: 5}, "one\nt"},
	}
	for _, c := range cases {
		var out bytes.Buffer
		if err := Read(context.Background(), path, c.opts, &out); err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		if out.String() != c.want {
			t.Errorf("%s: got %q, want %q", c.name, out.String(), c.want)
		}
	}
}

func TestRotationKeepsOrder(t *testing.T) {
	path := filepath.Join(t.TempDir(), "0.log")
	w, err := NewWriter(Spec{MaxBytes: 100, MaxFiles: 3, Path: path}, fixedClock())
	if err != nil {
		t.Fatal(err)
	}
	var in strings.Builder
	for i := 0; i < 8; i++ {
		in.WriteString(strings.Repeat(string(rune('a'+i)), 10) + "\n")
	}
	w.Copy("stdout", strings.NewReader(in.String()))
	w.Close()
	if _, err := os.Stat(path + ".3"); err == nil {
		t.Fatal("more files kept than MaxFiles")
	}
	var out bytes.Buffer
	if err := Read(context.Background(), path, ReadOptions{Tail: -1}, &out); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	if lines[len(lines)-1] != "hhhhhhhhhh" || len(lines) >= 8 {
		t.Fatalf("after rotation read %q", lines)
	}
	for i := 1; i < len(lines); i++ {
		if lines[i] < lines[i-1] {
			t.Fatalf("out of order: %q", lines)
		}
	}
}

func TestFollowSeesNewLinesAndRotation(t *testing.T) {
	path := filepath.Join(t.TempDir(), "0.log")
	w, err := NewWriter(Spec{MaxBytes: 120, MaxFiles: 2, Path: path}, fixedClock())
	if err != nil {
		t.Fatal(err)
	}
	w.Copy("stdout", strings.NewReader("first\n"))
	var finished bool
	var out syncBuffer
	done := make(chan error)
	go func() {
		done <- Read(context.Background(), path, ReadOptions{Tail: -1, Follow: true, Poll: 5 * time.Millisecond,
			Done: func() bool { out.mu.Lock(); defer out.mu.Unlock(); return finished }}, &out)
	}()
	waitFor(t, &out, "first\n")
	w.Copy("stdout", strings.NewReader("second line that is long enough to rotate\nthird\n"))
	waitFor(t, &out, "third\n")
	w.Close()
	if _, err := os.Stat(path + ".1"); err != nil {
		t.Fatal("the test meant to follow across a rotation, but none happened")
	}
	out.mu.Lock()
	finished = true
	out.mu.Unlock()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if got := out.String(); got != "first\nsecond line that is long enough to rotate\nthird\n" {
		cur, _ := os.ReadFile(path)
		old, _ := os.ReadFile(path + ".1")
		t.Fatalf("followed %q; files %q %q", got, old, cur)
	}
}

func TestParseSpec(t *testing.T) {
	if s, err := ParseSpec("100:3:/a/b:c.log"); err != nil || s.Path != "/a/b:c.log" || s.MaxFiles != 3 {
		t.Fatalf("%+v %v", s, err)
	}
	for _, bad := range []string{"", "1:2", "x:1:/a", "1:0:/a", "1:1:rel"} {
		if _, err := ParseSpec(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

func waitFor(t *testing.T, b *syncBuffer, suffix string) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !strings.HasSuffix(b.String(), suffix) {
		if time.Now().After(deadline) {
			t.Fatalf("never saw %q; have %q", suffix, b.String())
		}
		time.Sleep(5 * time.Millisecond)
	}
}
