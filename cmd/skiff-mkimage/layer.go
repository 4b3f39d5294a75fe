package main

import (
	"archive/tar"
	"bytes"
	"fmt"
	"os"
	"slices"
	"strings"
	"time"
)

// entrypoint is where the --binary lands in the image.
const entrypoint = "/usr/local/bin/skiff-echo"

// epoch dates every tar entry and the image itself, so that the output
// depends on the inputs only.
var epoch = time.Unix(0, 0).UTC()

// applets are the busybox commands linked into /bin: a shell and what
// tests reach for inside a pod. Each is in Debian's busybox-static.
var applets = []string{
	"[", "[[", "ash", "awk", "base64", "basename", "cat", "chmod", "chown",
	"cp", "cut", "date", "dd", "df", "diff", "dirname", "dmesg", "du", "echo",
	"egrep", "env", "expr", "false", "find", "free", "grep", "gunzip", "gzip",
	"head", "hostname", "httpd", "id", "ifconfig", "ip", "kill", "killall",
	"less", "ln", "ls", "md5sum", "mkdir", "mkfifo", "mktemp", "more", "mount",
	"mv", "nc", "netstat", "nproc", "nslookup", "pidof", "ping", "ping6",
	"printf", "ps", "pwd", "readlink", "realpath", "rm", "rmdir", "route", "sed",
	"seq", "sh", "sha256sum", "sleep", "sort", "stat", "tail", "tar", "tee",
	"telnet", "test", "timeout", "top", "touch", "tr", "traceroute", "true",
	"umount", "uname", "uniq", "uptime", "usleep", "vi", "watch", "wc", "wget",
	"which", "whoami", "xargs", "yes", "zcat",
}

const (
	passwd = "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n"
	group  = "root:x:0:\nnobody:x:65534:\n"
)

// entry is one file, directory or symbolic link of the layer. Names have
// no leading slash; directories end in one.
type entry struct {
	name     string
	typ      byte
	mode     int64
	linkname string
	data     []byte
}

// buildLayer returns the image's only layer as an uncompressed tar: the
// two binaries, the busybox links and the skeleton of a root filesystem.
// /etc/hosts, /etc/hostname and /etc/resolv.conf are empty: the agent
// bind-mounts its own over them.
func buildLayer(busyboxPath, binaryPath string) ([]byte, error) {
	busybox, err := os.ReadFile(busyboxPath)
	if err != nil {
		return nil, err
	}
	binary, err := os.ReadFile(binaryPath)
	if err != nil {
		return nil, err
	}
	dir := func(name string, mode int64) entry { return entry{name: name, typ: tar.TypeDir, mode: mode} }
	file := func(name string, mode int64, data []byte) entry {
		return entry{name: name, typ: tar.TypeReg, mode: mode, data: data}
	}
	link := func(name, target string) entry {
		return entry{name: name, typ: tar.TypeSymlink, mode: 0o777, linkname: target}
	}
	entries := []entry{
		dir("bin/", 0o755),
		dir("data/", 0o755),
		dir("etc/", 0o755),
		dir("root/", 0o700),
		dir("tmp/", 0o1777),
		dir("usr/", 0o755),
		dir("usr/bin/", 0o755),
		dir("usr/local/", 0o755),
		dir("usr/local/bin/", 0o755),
		file("bin/busybox", 0o755, busybox),
		file(strings.TrimPrefix(entrypoint, "/"), 0o755, binary),
		file("etc/passwd", 0o644, []byte(passwd)),
		file("etc/group", 0o644, []byte(group)),
		file("etc/hosts", 0o644, nil),
		file("etc/hostname", 0o644, nil),
		file("etc/resolv.conf", 0o644, nil),
		link("usr/bin/env", "../../bin/busybox"), // for #!/usr/bin/env
	}
	for _, a := range applets {
		entries = append(entries, link("bin/"+a, "busybox"))
	}
	// A parent's name is a prefix of its children's, so it sorts first.
	slices.SortFunc(entries, func(a, b entry) int { return strings.Compare(a.name, b.name) })

	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, e := range entries {
		hdr := header(e.name, e.typ, e.mode, int64(len(e.data)))
		hdr.Linkname = e.linkname
		if err := tw.WriteHeader(hdr); err != nil {
			return nil, fmt.Errorf("layer %s: %w", e.name, err)
		}
		if _, err := tw.Write(e.data); err != nil {
			return nil, fmt.Errorf("layer %s: %w", e.name, err)
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// header is a tar header that says nothing about the machine that wrote
// it: root-owned, dated at the epoch, always in the same format.
func header(name string, typ byte, mode, size int64) *tar.Header {
	return &tar.Header{
		Typeflag: typ,
		Name:     name,
		Mode:     mode,
		Size:     size,
		ModTime:  epoch,
		Format:   tar.FormatUSTAR,
	}
}
