package reconcile

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
)

// Loop is one of the leader's loops: it runs until ctx ends, then returns
// (nil after a clean stop).
type Loop interface {
	Run(ctx context.Context) error
}

// Named is a Loop with a name for logs; see Name.
type Named struct {
	Name string
	Loop
}

// Name gives a loop a name for RunAll's logs.
func Name(name string, l Loop) Loop { return Named{Name: name, Loop: l} }

// RunAll runs loops side by side until ctx ends and all have returned. A
// loop that ends early is logged and the others go on. It returns the
// loops' errors, joined. The daemon calls it from its leader work, with
// the context that ends when leadership is lost.
func RunAll(ctx context.Context, log *slog.Logger, loops ...Loop) error {
	if log == nil {
		log = slog.Default()
	}
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		errs []error
	)
	for i, l := range loops {
		name := fmt.Sprintf("loop %d", i)
		if n, ok := l.(Named); ok {
			name = n.Name
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			err := l.Run(ctx)
			if ctx.Err() == nil {
				log.Error("leader loop ended before leadership did", "loop", name, "err", err)
			}
			if err != nil && !errors.Is(err, context.Canceled) {
				mu.Lock()
				errs = append(errs, fmt.Errorf("%s: %w", name, err))
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}
