package main

import (
	"fmt"
	"io"
	"sort"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
)

// describePod prints a pod the way people read one: where it runs, each
// container's state, last state, probes, environment and mounts, the
// conditions and the volumes.
func describePod(out io.Writer, p *corev1.Pod) {
	field := func(indent int, k, v string) {
		fmt.Fprintf(out, "%s%-*s %s\n", strings.Repeat(" ", indent), 20-indent, k+":", v)
	}
	node := orNone(p.Spec.NodeName)
	if p.Status.HostIP != "" {
		node += "/" + p.Status.HostIP
	}
	field(0, "Node", node)
	status := string(p.Status.Phase)
	if p.DeletionTimestamp != nil {
		status = fmt.Sprintf("Terminating (grace %ds)", valueOr(p.DeletionGracePeriodSeconds, 30))
	}
	field(0, "Status", orNone(status))
	if p.Status.Reason != "" {
		field(0, "Reason", p.Status.Reason)
		field(0, "Message", p.Status.Message)
	}
	field(0, "IP", orNone(p.Status.PodIP))
	statuses := map[string]corev1.ContainerStatus{}
	for _, cs := range append(append([]corev1.ContainerStatus{}, p.Status.InitContainerStatuses...), p.Status.ContainerStatuses...) {
		statuses[cs.Name] = cs
	}
	for _, group := range []struct {
		title string
		list  []corev1.Container
	}{{"Init Containers", p.Spec.InitContainers}, {"Containers", p.Spec.Containers}} {
		if len(group.list) == 0 {
			continue
		}
		fmt.Fprintf(out, "%s:\n", group.title)
		for _, c := range group.list {
			cs := statuses[c.Name]
			fmt.Fprintf(out, "  %s:\n", c.Name)
			field(4, "Container ID", orNone(cs.ContainerID))
			field(4, "Image", c.Image)
			for _, port := range c.Ports {
				name := ""
				if port.Name != "" {
					name = " (" + port.Name + ")"
				}
				field(4, "Port", fmt.Sprintf("%d/%s%s", port.ContainerPort, port.Protocol, name))
			}
			if len(c.Command) > 0 {
				field(4, "Command", strings.Join(c.Command, " "))
			}
			if len(c.Args) > 0 {
				field(4, "Args", strings.Join(c.Args, " "))
			}
			describeState(out, "State", cs.State)
			if cs.LastTerminationState.Terminated != nil || cs.LastTerminationState.Waiting != nil {
				describeState(out, "Last State", cs.LastTerminationState)
			}
			field(4, "Ready", fmt.Sprint(cs.Ready))
			field(4, "Restart Count", fmt.Sprint(cs.RestartCount))
			if len(c.Resources.Limits) > 0 {
				field(4, "Limits", resourceList(c.Resources.Limits))
			}
			if len(c.Resources.Requests) > 0 {
				field(4, "Requests", resourceList(c.Resources.Requests))
			}
			for _, pr := range []struct {
				name  string
				probe *corev1.Probe
			}{{"Liveness", c.LivenessProbe}, {"Readiness", c.ReadinessProbe}, {"Startup", c.StartupProbe}} {
				if pr.probe != nil {
					field(4, pr.name, probeString(pr.probe))
				}
			}
			if len(c.Env) > 0 || len(c.EnvFrom) > 0 {
				fmt.Fprintf(out, "    Environment:\n")
				for _, e := range c.EnvFrom {
					switch {
					case e.ConfigMapRef != nil:
						fmt.Fprintf(out, "      all keys of config map %q (prefix %q)\n", e.ConfigMapRef.Name, e.Prefix)
					case e.SecretRef != nil:
						fmt.Fprintf(out, "      all keys of secret %q (prefix %q)\n", e.SecretRef.Name, e.Prefix)
					}
				}
				for _, e := range c.Env {
					fmt.Fprintf(out, "      %s: %s\n", e.Name, envSource(e))
				}
			}
			if len(c.VolumeMounts) > 0 {
				fmt.Fprintf(out, "    Mounts:\n")
				for _, m := range c.VolumeMounts {
					mode := "rw"
					if m.ReadOnly || agentWritten(p, m.Name) {
						mode = "ro"
					}
					sub := ""
					if m.SubPath != "" {
						sub = " (path " + m.SubPath + ")"
					}
					fmt.Fprintf(out, "      %s from %s%s (%s)\n", m.MountPath, m.Name, sub, mode)
				}
			}
		}
	}
	if len(p.Status.Conditions) > 0 {
		fmt.Fprintf(out, "Conditions:\n  %-18s %s\n", "Type", "Status")
		for _, c := range p.Status.Conditions {
			fmt.Fprintf(out, "  %-18s %s\n", c.Type, c.Status)
		}
	}
	if len(p.Spec.Volumes) > 0 {
		fmt.Fprintf(out, "Volumes:\n")
		for _, v := range p.Spec.Volumes {
			fmt.Fprintf(out, "  %s:\n    %s\n", v.Name, volumeString(v))
		}
	}
}

func describeState(out io.Writer, title string, st corev1.ContainerState) {
	line := func(k, v string) { fmt.Fprintf(out, "      %-14s %s\n", k+":", v) }
	switch {
	case st.Running != nil:
		fmt.Fprintf(out, "    %-16s %s\n", title+":", "Running")
		line("Started", st.Running.StartedAt.UTC().Format(time.RFC1123Z))
	case st.Terminated != nil:
		t := st.Terminated
		fmt.Fprintf(out, "    %-16s %s\n", title+":", "Terminated")
		line("Reason", t.Reason)
		if t.Message != "" {
			line("Message", t.Message)
		}
		line("Exit Code", fmt.Sprint(t.ExitCode))
		line("Started", t.StartedAt.UTC().Format(time.RFC1123Z))
		line("Finished", t.FinishedAt.UTC().Format(time.RFC1123Z))
	case st.Waiting != nil:
		fmt.Fprintf(out, "    %-16s %s\n", title+":", "Waiting")
		line("Reason", st.Waiting.Reason)
		if st.Waiting.Message != "" {
			line("Message", st.Waiting.Message)
		}
	default:
		fmt.Fprintf(out, "    %-16s %s\n", title+":", "<none>")
	}
}

func resourceList(rl corev1.ResourceList) string {
	var parts []string
	for k, v := range rl {
		parts = append(parts, string(k)+"="+v.String())
	}
	sort.Strings(parts)
	return strings.Join(parts, ", ")
}

func probeString(p *corev1.Probe) string {
	var what string
	switch {
	case p.HTTPGet != nil:
		what = fmt.Sprintf("http-get %s://:%s%s", strings.ToLower(string(orDefault(string(p.HTTPGet.Scheme), "HTTP"))), p.HTTPGet.Port.String(), p.HTTPGet.Path)
	case p.TCPSocket != nil:
		what = "tcp-socket :" + p.TCPSocket.Port.String()
	case p.Exec != nil:
		what = "exec " + fmt.Sprintf("%q", p.Exec.Command)
	case p.GRPC != nil:
		what = fmt.Sprintf("grpc :%d", p.GRPC.Port)
	}
	return fmt.Sprintf("%s delay=%ds timeout=%ds period=%ds #success=%d #failure=%d", what,
		p.InitialDelaySeconds, p.TimeoutSeconds, p.PeriodSeconds, p.SuccessThreshold, p.FailureThreshold)
}

func envSource(e corev1.EnvVar) string {
	switch {
	case e.ValueFrom == nil:
		return e.Value
	case e.ValueFrom.ConfigMapKeyRef != nil:
		return fmt.Sprintf("<key %q of config map %q>", e.ValueFrom.ConfigMapKeyRef.Key, e.ValueFrom.ConfigMapKeyRef.Name)
	case e.ValueFrom.SecretKeyRef != nil:
		return fmt.Sprintf("<key %q of secret %q>", e.ValueFrom.SecretKeyRef.Key, e.ValueFrom.SecretKeyRef.Name)
	case e.ValueFrom.FieldRef != nil:
		return "<" + e.ValueFrom.FieldRef.FieldPath + ">"
	case e.ValueFrom.ResourceFieldRef != nil:
		return "<" + e.ValueFrom.ResourceFieldRef.Resource + ">"
	}
	return ""
}

func volumeString(v corev1.Volume) string {
	switch {
	case v.ConfigMap != nil:
		return fmt.Sprintf("ConfigMap %q", v.ConfigMap.Name)
	case v.Secret != nil:
		return fmt.Sprintf("Secret %q (on tmpfs)", v.Secret.SecretName)
	case v.EmptyDir != nil:
		if v.EmptyDir.Medium == corev1.StorageMediumMemory {
			return "EmptyDir in memory (tmpfs)"
		}
		return "EmptyDir on the node's disk"
	case v.HostPath != nil:
		return fmt.Sprintf("HostPath %s", v.HostPath.Path)
	case v.Projected != nil:
		return "Projected"
	case v.DownwardAPI != nil:
		return "DownwardAPI"
	}
	return "(a kind skiff does not run)"
}

func valueOr(p *int64, d int64) int64 {
	if p == nil {
		return d
	}
	return *p
}

func orDefault(s, d string) string {
	if s == "" {
		return d
	}
	return s
}

// agentWritten reports whether the agent writes the volume (configMap,
// secret, projected, downward API): containers get it read-only.
func agentWritten(p *corev1.Pod, name string) bool {
	for _, v := range p.Spec.Volumes {
		if v.Name == name {
			return v.ConfigMap != nil || v.Secret != nil || v.Projected != nil || v.DownwardAPI != nil
		}
	}
	return false
}
