package daemon

import (
	"context"
	"log/slog"
	"slices"
	"time"

	"github.com/skiffhq/skiff/apis/client"
	"github.com/skiffhq/skiff/apis/pki"
	"github.com/skiffhq/skiff/apis/skiffv1"
	"github.com/skiffhq/skiff/raftfsm"
)

// adminConfig keeps <data-dir>/admin.conf listing every master's API, this
// one first, so the CLI can fail over when a master is down; it carries the
// CA and an admin client certificate, re-issued before it expires.
type adminConfig struct {
	path     string
	self     string // this master's API URL
	scheme   string
	fsm      *raftfsm.FSM
	pki      *masterPKI
	insecure bool
	log      *slog.Logger
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

// needsCredentials reports whether cfg lacks a current admin certificate.
func (a *adminConfig) needsCredentials(cfg *client.Config) bool {
	if cfg.ClientCertificate == "" || cfg.CertificateAuthority != string(a.pki.CA().Bundle) {
		return true
	}
	certs, err := pki.ParseCerts([]byte(cfg.ClientCertificate))
	return err != nil || time.Now().After(pki.RenewAt(certs[0]))
}

func (a *adminConfig) write() error {
	want := a.servers()
	cur, err := client.LoadConfig(a.path)
	if err != nil {
		cur = &client.Config{}
	}
	changed := !slices.Equal(cur.Servers, want)
	cur.Servers = want
	if a.insecure {
		changed = changed || cur.ClientCertificate != ""
		cur.CertificateAuthority, cur.ClientCertificate, cur.ClientKey = "", "", ""
	} else if a.needsCredentials(cur) {
		certPEM, keyPEM, err := a.pki.adminCredentials()
		if err != nil {
			return err
		}
		cur.CertificateAuthority, cur.ClientCertificate, cur.ClientKey = string(a.pki.CA().Bundle), string(certPEM), string(keyPEM)
		changed = true
	}
	if !changed {
		return nil
	}
	return client.WriteConfig(a.path, cur)
}

// run rewrites the file whenever the set of masters changes, and checks
// the certificate hourly.
func (a *adminConfig) run(ctx context.Context) {
	tick := time.NewTicker(time.Hour)
	defer tick.Stop()
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
				case <-a.pki.CAChanged():
				case <-tick.C:
				case _, ok := <-w.Events():
					if !ok {
						return
					}
				}
				if err := a.write(); err != nil {
					a.log.Warn("writing admin.conf", "err", err)
				}
			}
		}()
	}
}
