package endpoint

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"strconv"
	"sync"
)

// An exec answer is a stream of frames: one byte of channel, four bytes of
// big-endian payload length, the payload. Output comes on ChannelStdout and
// ChannelStderr; the stream ends with one ChannelExit frame (the decimal
// exit code) or one ChannelError frame (a message).
const (
	ChannelStdout byte = 1
	ChannelStderr byte = 2
	ChannelExit   byte = 3
	ChannelError  byte = 4
)

// ExecContentType is the content type of an exec answer.
const ExecContentType = "application/vnd.skiff.exec-frames"

// MaxFramePayload bounds the payload a FrameReader accepts.
const MaxFramePayload = 1 << 20

// writeChunk is the largest payload a FrameWriter puts in one frame.
const writeChunk = 32 << 10

const frameHeaderLen = 5

// FrameWriter writes frames to w, whole frames at a time even when several
// goroutines write (a process's stdout and stderr), and flushes after
// each one. After the first error every write fails with it.
type FrameWriter struct {
	mu    sync.Mutex
	w     io.Writer
	flush func() error
	err   error
}

// NewFrameWriter writes frames to w, calling flush (when not nil) after
// each.
func NewFrameWriter(w io.Writer, flush func() error) *FrameWriter {
	return &FrameWriter{w: w, flush: flush}
}

// WriteFrame writes one frame. A payload larger than MaxFramePayload is
// refused: Stream splits output for you.
func (fw *FrameWriter) WriteFrame(ch byte, payload []byte) error {
	if len(payload) > MaxFramePayload {
		return fmt.Errorf("frame payload of %d bytes is over the %d-byte limit", len(payload), MaxFramePayload)
	}
	fw.mu.Lock()
	defer fw.mu.Unlock()
	if fw.err != nil {
		return fw.err
	}
	// One write per frame: a writer that flushes on each write (the
	// endpoint's) sends whole frames.
	frame := make([]byte, frameHeaderLen+len(payload))
	frame[0] = ch
	binary.BigEndian.PutUint32(frame[1:], uint32(len(payload)))
	copy(frame[frameHeaderLen:], payload)
	if _, err := fw.w.Write(frame); err != nil {
		fw.err = err
		return err
	}
	if fw.flush != nil {
		if err := fw.flush(); err != nil {
			fw.err = err
			return err
		}
	}
	return nil
}

// WriteExit ends a stream with an exit code.
func (fw *FrameWriter) WriteExit(code int) error {
	return fw.WriteFrame(ChannelExit, []byte(strconv.Itoa(code)))
}

// WriteError ends a stream with an error.
func (fw *FrameWriter) WriteError(err error) error {
	msg := err.Error()
	if len(msg) > MaxFramePayload {
		msg = msg[:MaxFramePayload]
	}
	return fw.WriteFrame(ChannelError, []byte(msg))
}

// Stream returns a writer whose writes become frames on ch.
func (fw *FrameWriter) Stream(ch byte) io.Writer { return &frameStream{fw: fw, ch: ch} }

type frameStream struct {
	fw *FrameWriter
	ch byte
}

func (s *frameStream) Write(p []byte) (int, error) {
	n := 0
	for len(p) > 0 {
		chunk := p[:min(len(p), writeChunk)]
		if err := s.fw.WriteFrame(s.ch, chunk); err != nil {
			return n, err
		}
		n += len(chunk)
		p = p[len(chunk):]
	}
	return n, nil
}

// FrameReader reads frames.
type FrameReader struct {
	r   io.Reader
	hdr [frameHeaderLen]byte
}

// NewFrameReader reads frames from r.
func NewFrameReader(r io.Reader) *FrameReader { return &FrameReader{r: r} }

// Next returns the next frame: io.EOF when the stream ends between frames,
// io.ErrUnexpectedEOF when it ends inside one.
func (fr *FrameReader) Next() (ch byte, payload []byte, err error) {
	if _, err := io.ReadFull(fr.r, fr.hdr[:]); err != nil {
		return 0, nil, err
	}
	n := binary.BigEndian.Uint32(fr.hdr[1:])
	if n > MaxFramePayload {
		return 0, nil, fmt.Errorf("exec stream: a frame of %d bytes is over the %d-byte limit", n, MaxFramePayload)
	}
	payload = make([]byte, n)
	if _, err := io.ReadFull(fr.r, payload); err != nil {
		if err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		return 0, nil, err
	}
	return fr.hdr[0], payload, nil
}

// ErrNoExitCode: an exec stream ended without its exit or error frame (the
// connection was cut, or the agent died).
var ErrNoExitCode = errors.New("the exec stream ended without an exit code")

// ExecError is the error an exec stream ended with, as the agent said it.
type ExecError struct {
	Message string
}

func (e *ExecError) Error() string { return e.Message }

// Demux reads an exec stream to its end, copying output to stdout and
// stderr (nil discards), and returns the exit code. A stream that ends
// with an error frame returns an *ExecError; one that just stops,
// ErrNoExitCode.
func Demux(r io.Reader, stdout, stderr io.Writer) (int, error) {
	if stdout == nil {
		stdout = io.Discard
	}
	if stderr == nil {
		stderr = io.Discard
	}
	fr := NewFrameReader(r)
	for {
		ch, payload, err := fr.Next()
		if err == io.EOF || err == io.ErrUnexpectedEOF {
			return -1, ErrNoExitCode
		}
		if err != nil {
			return -1, fmt.Errorf("reading the exec stream: %w", err)
		}
		switch ch {
		case ChannelStdout:
			if _, err := stdout.Write(payload); err != nil {
				return -1, fmt.Errorf("writing the command's stdout: %w", err)
			}
		case ChannelStderr:
			if _, err := stderr.Write(payload); err != nil {
				return -1, fmt.Errorf("writing the command's stderr: %w", err)
			}
		case ChannelExit:
			code, err := strconv.Atoi(string(payload))
			if err != nil {
				return -1, fmt.Errorf("exec stream: bad exit code %q", payload)
			}
			return code, nil
		case ChannelError:
			return -1, &ExecError{Message: string(payload)}
		default:
			return -1, fmt.Errorf("exec stream: unknown channel %d", ch)
		}
	}
}
