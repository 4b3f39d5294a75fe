// Package containerlog writes and reads container log files.
//
// The writer half runs as its own process: containerd's shim starts the skiff
// executable with the container's stdout and stderr pipes (`skiff
// container-logger MAXBYTES:FILES:PATH`), so output keeps flowing while the
// agent restarts. Each line is stored as
//
//	2026-12-02T15:04:05.123456789Z stdout F the line
//
// (the CRI log format: F for a full line, P for a part of a longer one), and
// the file is rotated by size. The reader half serves `skiff logs`: tail,
// since, byte limits, timestamps and follow across rotations.
package containerlog
