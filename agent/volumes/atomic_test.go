package volumes

import (
	"io"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"
)

var t0 = time.Date(2026, 12, 2, 15, 4, 5, 123456789, time.UTC)

func readlink(t *testing.T, p string) string {
	t.Helper()
	target, err := os.Readlink(p)
	if err != nil {
		t.Fatalf("readlink: %v", err)
	}
	return target
}

func readFile(t *testing.T, p string) string {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatalf("read: %v", err)
	}
	return string(b)
}

func entries(t *testing.T, dir string) []string {
	t.Helper()
	es, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range es {
		names = append(names, e.Name())
	}
	return names
}

func mustWrite(t *testing.T, dir string, pl payload, now time.Time) bool {
	t.Helper()
	changed, err := writeFiles(dir, pl, now)
	if err != nil {
		t.Fatalf("writeFiles: %v", err)
	}
	return changed
}

func TestWriteFilesLayout(t *testing.T) {
	dir := t.TempDir()
	pl := payload{}
	for _, f := range []struct {
		path string
		data string
		mode int32
	}{{"greeting", "hello", 0o644}, {"a/b.txt", "nested", 0o600}, {"a/c/d", "deep", 0o400}, {"run.sh", "#!/bin/sh", 0o755}} {
		if err := pl.add("v", f.path, []byte(f.data), f.mode); err != nil {
			t.Fatal(err)
		}
	}
	if !mustWrite(t, dir, pl, t0) {
		t.Fatal("first write reported no change")
	}

	ts := "..2026_12_02_15_04_05.123456789"
	if got := readlink(t, filepath.Join(dir, "..data")); got != ts {
		t.Errorf("..data -> %q, want %q", got, ts)
	}
	if got, want := entries(t, dir), []string{ts, "..data", "a", "greeting", "run.sh"}; !slices.Equal(got, want) {
		t.Errorf("entries = %q, want %q", got, want)
	}
	for top, want := range map[string]string{"greeting": "..data/greeting", "a": "..data/a", "run.sh": "..data/run.sh"} {
		if got := readlink(t, filepath.Join(dir, top)); got != want {
			t.Errorf("%s -> %q, want %q", top, got, want)
		}
	}
	for p, want := range map[string]struct {
		data string
		mode os.FileMode
	}{"greeting": {"hello", 0o644}, "a/b.txt": {"nested", 0o600}, "a/c/d": {"deep", 0o400}, "run.sh": {"#!/bin/sh", 0o755}} {
		full := filepath.Join(dir, p) // through the links
		if got := readFile(t, full); got != want.data {
			t.Errorf("%s = %q, want %q", p, got, want.data)
		}
		fi, err := os.Stat(full)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != want.mode {
			t.Errorf("%s mode = %v, want %v", p, fi.Mode().Perm(), want.mode)
		}
	}
	for _, d := range []string{ts, ts + "/a", ts + "/a/c"} {
		fi, err := os.Stat(filepath.Join(dir, d))
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != 0o755 {
			t.Errorf("%s mode = %v, want 0755", d, fi.Mode().Perm())
		}
	}
}

func TestWriteFilesAtomicUpdate(t *testing.T) {
	dir := t.TempDir()
	mustWrite(t, dir, payload{"keep": {[]byte("same"), 0o644}, "gone": {[]byte("old"), 0o644}, "change": {[]byte("v1"), 0o644}}, t0)
	oldTS := readlink(t, filepath.Join(dir, "..data"))

	// A container reading a file while the update lands.
	reader, err := os.Open(filepath.Join(dir, "change"))
	if err != nil {
		t.Fatal(err)
	}
	defer reader.Close()

	t1 := t0.Add(time.Second)
	if !mustWrite(t, dir, payload{"keep": {[]byte("same"), 0o644}, "change": {[]byte("v2"), 0o644}, "new": {[]byte("fresh"), 0o640}}, t1) {
		t.Fatal("update reported no change")
	}
	newTS := readlink(t, filepath.Join(dir, "..data"))
	if newTS == oldTS || newTS != "..2026_12_02_15_04_06.123456789" {
		t.Errorf("..data -> %q after the update (was %q)", newTS, oldTS)
	}
	if got := readFile(t, filepath.Join(dir, "change")); got != "v2" {
		t.Errorf("change = %q, want v2", got)
	}
	if got := readFile(t, filepath.Join(dir, "new")); got != "fresh" {
		t.Errorf("new = %q", got)
	}
	if old, err := io.ReadAll(reader); err != nil || string(old) != "v1" {
		t.Errorf("open reader read %q, %v; want the old content v1", old, err)
	}
	if _, err := os.Lstat(filepath.Join(dir, "gone")); !os.IsNotExist(err) {
		t.Errorf("removed key still there: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, oldTS)); !os.IsNotExist(err) {
		t.Errorf("old timestamped dir still there: %v", err)
	}
	if got, want := entries(t, dir), []string{newTS, "..data", "change", "keep", "new"}; !slices.Equal(got, want) {
		t.Errorf("entries = %q, want %q", got, want)
	}
}

func TestWriteFilesUnchangedIsNotRewritten(t *testing.T) {
	dir := t.TempDir()
	pl := payload{"a": {[]byte("1"), 0o644}, "d/b": {[]byte("2"), 0o600}}
	mustWrite(t, dir, pl, t0)
	ts := readlink(t, filepath.Join(dir, "..data"))
	before, err := os.Stat(filepath.Join(dir, ts, "a"))
	if err != nil {
		t.Fatal(err)
	}

	same := payload{"a": {[]byte("1"), 0o644}, "d/b": {[]byte("2"), 0o600}}
	if mustWrite(t, dir, same, t0.Add(time.Hour)) {
		t.Error("same content reported a change")
	}
	if got := readlink(t, filepath.Join(dir, "..data")); got != ts {
		t.Errorf("..data -> %q, want unchanged %q", got, ts)
	}
	after, err := os.Stat(filepath.Join(dir, ts, "a"))
	if err != nil {
		t.Fatal(err)
	}
	if !os.SameFile(before, after) || !after.ModTime().Equal(before.ModTime()) {
		t.Error("the file was rewritten")
	}

	// A mode change alone is a change.
	if !mustWrite(t, dir, payload{"a": {[]byte("1"), 0o600}, "d/b": {[]byte("2"), 0o600}}, t0.Add(2*time.Hour)) {
		t.Error("mode change reported no change")
	}
	if readlink(t, filepath.Join(dir, "..data")) == ts {
		t.Error("mode change did not swap ..data")
	}
}

func TestWriteFilesRepairs(t *testing.T) {
	dir := t.TempDir()
	pl := payload{"a": {[]byte("1"), 0o644}, "b": {[]byte("2"), 0o644}}
	mustWrite(t, dir, pl, t0)
	ts := readlink(t, filepath.Join(dir, "..data"))

	// A lost link, a stray entry, leftovers of an interrupted write.
	if err := os.Remove(filepath.Join(dir, "b")); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{"stray", "..data_tmp", "..2026_01_01_00_00_00.000000000"} {
		if err := os.Mkdir(filepath.Join(dir, p), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if !mustWrite(t, dir, pl, t0.Add(time.Second)) {
		t.Error("repair reported no change")
	}
	if got := readlink(t, filepath.Join(dir, "..data")); got != ts {
		t.Errorf("..data -> %q, want %q (content unchanged)", got, ts)
	}
	if got, want := entries(t, dir), []string{ts, "..data", "a", "b"}; !slices.Equal(got, want) {
		t.Errorf("entries = %q, want %q", got, want)
	}

	// A file edited in place behind the writer's back is rewritten.
	if err := os.WriteFile(filepath.Join(dir, ts, "a"), []byte("tampered"), 0o644); err != nil {
		t.Fatal(err)
	}
	if !mustWrite(t, dir, pl, t0.Add(2*time.Second)) {
		t.Error("tampered content reported no change")
	}
	if got := readFile(t, filepath.Join(dir, "a")); got != "1" {
		t.Errorf("a = %q after repair", got)
	}

	// ..data pointing nowhere.
	if err := os.Remove(filepath.Join(dir, "..data")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("/etc", filepath.Join(dir, "..data")); err != nil {
		t.Fatal(err)
	}
	mustWrite(t, dir, pl, t0.Add(3*time.Second))
	if got := readFile(t, filepath.Join(dir, "b")); got != "2" {
		t.Errorf("b = %q after repair", got)
	}
}

func TestWriteFilesTopLevelChangesKind(t *testing.T) {
	dir := t.TempDir()
	mustWrite(t, dir, payload{"a/x": {[]byte("1"), 0o644}}, t0)
	mustWrite(t, dir, payload{"a": {[]byte("file now"), 0o644}}, t0.Add(time.Second))
	if got := readFile(t, filepath.Join(dir, "a")); got != "file now" {
		t.Errorf("a = %q", got)
	}
	mustWrite(t, dir, payload{}, t0.Add(2*time.Second))
	if got := entries(t, dir); len(got) != 2 {
		t.Errorf("empty payload leaves %q, want ..data and its directory", got)
	}
}

func TestWriteFilesSameTimestamp(t *testing.T) {
	dir := t.TempDir()
	mustWrite(t, dir, payload{"a": {[]byte("1"), 0o644}}, t0)
	first := readlink(t, filepath.Join(dir, "..data"))
	// A leftover directory with the next name forces a collision.
	if err := os.Mkdir(filepath.Join(dir, "..2026_12_02_15_04_05.123456790"), 0o755); err != nil {
		t.Fatal(err)
	}
	mustWrite(t, dir, payload{"a": {[]byte("2"), 0o644}}, t0.Add(time.Nanosecond))
	if got := readlink(t, filepath.Join(dir, "..data")); got == first || got != "..2026_12_02_15_04_05.123456791" {
		t.Errorf("..data -> %q", got)
	}
	if got := readFile(t, filepath.Join(dir, "a")); got != "2" {
		t.Errorf("a = %q", got)
	}
}

func TestPayloadAdd(t *testing.T) {
	tests := []struct {
		existing []string
		path     string
		ok       bool
	}{
		{nil, "a", true},
		{nil, "a/b/c.txt", true},
		{nil, "./a", true},
		{nil, "", false},
		{nil, "/etc/passwd", false},
		{nil, "../x", false},
		{nil, "a/../../x", false},
		{nil, "a/../b", false},
		{nil, "..data", false},
		{nil, "a/..hidden", false},
		{nil, ".", false},
		{[]string{"a"}, "a", false},
		{[]string{"a"}, "a/b", false},
		{[]string{"a/b"}, "a", false},
		{[]string{"a/b"}, "a/c", true},
		{[]string{"ab"}, "a/b", true},
	}
	for _, tt := range tests {
		pl := payload{}
		for _, p := range tt.existing {
			if err := pl.add("v", p, nil, 0o644); err != nil {
				t.Fatal(err)
			}
		}
		err := pl.add("v", tt.path, nil, 0o644)
		if (err == nil) != tt.ok {
			t.Errorf("add(%q) after %q: err = %v, want ok %v", tt.path, tt.existing, err, tt.ok)
		}
	}
}
