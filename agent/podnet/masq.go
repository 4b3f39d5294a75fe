package podnet

import (
	"context"
	"errors"
	"fmt"
	"os/exec"
	"slices"
	"strings"
)

// The bridge plugin removes a pod's masquerade rules on DEL only while the
// pod's namespace exists (it learns the addresses from the pod's interface).
// When the namespace is gone, removeOrphanMasq finds them by the comment the
// plugin tags them with — `name: "<network>" id: "<id>"` — on a POSTROUTING
// rule that jumps to a per-pod CNI-… chain, and deletes both.
func (c *CNI) removeOrphanMasq(ctx context.Context, id string) error {
	iptables, err := exec.LookPath("iptables")
	if errors.Is(err, exec.ErrNotFound) {
		return nil // nobody can have made iptables rules
	}
	if err != nil {
		return err
	}
	out, err := exec.CommandContext(ctx, iptables, "-w", "-t", "nat", "-S", "POSTROUTING").Output()
	if err != nil {
		return fmt.Errorf("iptables -S POSTROUTING: %w", err)
	}
	comment := fmt.Sprintf(`name: "%s" id: "%s"`, c.cfg.NetworkName, id)
	var errs []error
	for _, line := range strings.Split(string(out), "\n") {
		args := splitRule(line)
		if len(args) < 2 || args[0] != "-A" {
			continue
		}
		i := slices.Index(args, "--comment")
		j := slices.Index(args, "-j")
		if i < 0 || i+1 >= len(args) || args[i+1] != comment || j < 0 || j+1 >= len(args) ||
			!strings.HasPrefix(args[j+1], "CNI-") {
			continue
		}
		chain := args[j+1]
		c.log.Info("removing masquerade rules the plugin could not", "id", id, "chain", chain)
		del := append([]string{"-w", "-t", "nat", "-D"}, args[1:]...)
		for _, cmd := range [][]string{del, {"-w", "-t", "nat", "-F", chain}, {"-w", "-t", "nat", "-X", chain}} {
			if out, err := exec.CommandContext(ctx, iptables, cmd...).CombinedOutput(); err != nil {
				errs = append(errs, fmt.Errorf("iptables %s: %w: %s", strings.Join(cmd, " "), err, strings.TrimSpace(string(out))))
				break
			}
		}
	}
	return errors.Join(errs...)
}

// splitRule splits a line of iptables -S into its arguments, keeping a
// "quoted string" (a comment, with \" inside) as one argument.
func splitRule(line string) []string {
	var (
		out     []string
		cur     strings.Builder
		quoted  bool
		started bool
	)
	for i := 0; i < len(line); i++ {
		ch := line[i]
		switch {
		case ch == '\\' && quoted && i+1 < len(line):
			i++
			cur.WriteByte(line[i])
		case ch == '"':
			quoted, started = !quoted, true
		case ch == ' ' && !quoted:
			if started {
				out = append(out, cur.String())
				cur.Reset()
				started = false
			}
		default:
			cur.WriteByte(ch)
			started = true
		}
	}
	if started {
		out = append(out, cur.String())
	}
	return out
}
