package podnet

import (
	"errors"
	"fmt"
	"os"
	"runtime"

	"golang.org/x/sys/unix"
)

// A thread that changed namespace is unlocked only once it is back in its
// original one. If it cannot get back, its goroutine returns still locked and
// the Go runtime destroys the thread instead of reusing it: no goroutine is
// ever scheduled in a namespace it did not ask for.

// errNSGoexit reports fn ending its goroutine (runtime.Goexit, e.g. from
// t.FailNow) instead of returning.
var errNSGoexit = errors.New("podnet: function run in a network namespace exited its goroutine")

// threadNetNS is the current thread's network namespace file.
func threadNetNS() string {
	return fmt.Sprintf("/proc/%d/task/%d/ns/net", os.Getpid(), unix.Gettid())
}

// createNetNS creates a new network namespace pinned by a bind mount on
// path. path must not exist: creating it exclusively is what claims the id.
// An existing path gives an error wrapping os.ErrExist.
func createNetNS(path string) error {
	f, err := os.OpenFile(path, os.O_RDONLY|os.O_CREATE|os.O_EXCL, 0o444)
	if err != nil {
		return err
	}
	if err := f.Close(); err != nil {
		return errors.Join(err, os.Remove(path))
	}
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		orig, err := os.Open(threadNetNS())
		if err != nil {
			runtime.UnlockOSThread()
			errc <- fmt.Errorf("open current netns: %w", err)
			return
		}
		defer orig.Close()
		if err := unix.Unshare(unix.CLONE_NEWNET); err != nil {
			// Still in the original namespace.
			runtime.UnlockOSThread()
			errc <- fmt.Errorf("unshare netns: %w", err)
			return
		}
		var mountErr error
		if err := unix.Mount(threadNetNS(), path, "none", unix.MS_BIND, ""); err != nil {
			mountErr = fmt.Errorf("bind-mount netns on %s: %w", path, err)
		}
		if err := unix.Setns(int(orig.Fd()), unix.CLONE_NEWNET); err != nil {
			// Leave the thread locked: it dies with this goroutine.
			errc <- errors.Join(mountErr, fmt.Errorf("return to host netns: %w", err))
			return
		}
		runtime.UnlockOSThread()
		errc <- mountErr
	}()
	if err := <-errc; err != nil {
		return errors.Join(err, removeNetNS(path))
	}
	return nil
}

// removeNetNS unmounts and removes a namespace file; what is already gone
// is not an error. The namespace itself lives on while anything (a
// container, an open file) still holds it.
func removeNetNS(path string) error {
	err := unix.Unmount(path, unix.MNT_DETACH)
	if err != nil && !errors.Is(err, unix.EINVAL) && !errors.Is(err, unix.ENOENT) {
		// EINVAL: not a mount point (never mounted, or already unmounted).
		return fmt.Errorf("unmount %s: %w", path, err)
	}
	if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	return nil
}

// isNetNS reports whether path is a mounted network namespace (nsfs). A
// leftover plain file (a crash between create and mount, or a NetNSDir that
// outlived a reboot) is not.
func isNetNS(path string) (bool, error) {
	var st unix.Statfs_t
	if err := unix.Statfs(path, &st); err != nil {
		if errors.Is(err, unix.ENOENT) {
			return false, nil
		}
		return false, fmt.Errorf("statfs %s: %w", path, err)
	}
	return st.Type == unix.NSFS_MAGIC, nil
}

// InNetNS runs fn on a locked OS thread inside the network namespace at
// path and returns fn's error. fn runs on a goroutine of its own: it must
// not call t.FailNow and the like, and goroutines it starts run in the
// host's namespace. Sockets fn opens stay in the pod's namespace after it
// returns, so a listener made here can be served from anywhere.
func InNetNS(path string, fn func() error) error {
	target, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("open netns: %w", err)
	}
	defer target.Close()
	if ok, err := isNetNS(path); err != nil {
		return err
	} else if !ok {
		return fmt.Errorf("%w: %s is not a network namespace", ErrInvalid, path)
	}
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		result := errNSGoexit
		defer func() { errc <- result }()
		orig, err := os.Open(threadNetNS())
		if err != nil {
			runtime.UnlockOSThread()
			result = fmt.Errorf("open current netns: %w", err)
			return
		}
		defer orig.Close()
		if err := unix.Setns(int(target.Fd()), unix.CLONE_NEWNET); err != nil {
			runtime.UnlockOSThread()
			result = fmt.Errorf("enter netns %s: %w", path, err)
			return
		}
		fnErr := fn()
		if err := unix.Setns(int(orig.Fd()), unix.CLONE_NEWNET); err != nil {
			// Leave the thread locked: it dies with this goroutine.
			result = errors.Join(fnErr, fmt.Errorf("return from netns %s: %w", path, err))
			return
		}
		runtime.UnlockOSThread()
		result = fnErr
	}()
	return <-errc
}
