package daemon

import (
	"context"
	"log/slog"
	"os"
	"slices"

	"github.com/skiffhq/skiff/apis/client"
	"github.com/skiffhq/skiff/apis/skiffv1"
	"github.com/skiffhq/skiff/raftfsm"
)

// adminConfig keeps <data-dir>/admin.conf listing every master's API, this
// one first, so the CLI can fail over when a master is down.
type adminConfig struct {
	path   string
	self   string // this master's API URL
	scheme string
	fsm    *raftfsm.FSM
	log    *slog.Logger
}

func (a *adminConfig) servers() []string {
	out := []string{a.self}
	for _, o := range a.fsm.View().List("Member", "") {
		u := a.scheme + "://" + o.(*skiffv1.Member).Spec.APIAddress
		if !slices.Contains(out, u) {
			out = append(out, u)
		}
	}
	return out
}

func (a *adminConfig) write() error {
	want := a.servers()
	if cur, err := client.LoadConfig(a.path); err == nil && slices.Equal(cur.Servers, want) {
		return nil
	}
	return client.WriteConfig(a.path, &client.Config{Servers: want})
}

// run rewrites the file whenever the set of masters changes.
func (a *adminConfig) run(ctx context.Context) {
	for ctx.Err() == nil {
		w, err := a.fsm.Hub().Watch(raftfsm.Filter{Kind: "Member"}, a.fsm.View().Revision(), nil)
		if err != nil {
			a.log.Warn("watching masters for admin.conf", "err", err)
			sleep(ctx, 1)
			continue
		}
		if err := a.write(); err != nil {
			a.log.Warn("writing admin.conf", "err", err)
		}
		func() {
			defer w.Stop()
			for {
				select {
				case <-ctx.Done():
					return
				case _, ok := <-w.Events():
					if !ok {
						return
					}
					if err := a.write(); err != nil {
						a.log.Warn("writing admin.conf", "err", err)
					}
				}
			}
		}()
	}
}

func fileExists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}
