package defaults

import (
	"strings"

	"github.com/skiffhq/skiff/apis"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// DefaultGracePeriodSeconds is Kubernetes' default termination grace period.
const DefaultGracePeriodSeconds int64 = 30

// Pod defaults a Pod.
func Pod(obj apis.Object) { PodSpec(&obj.(*corev1.Pod).Spec) }

// PodSpec defaults a pod spec, also inside a controller's template.
func PodSpec(s *corev1.PodSpec) {
	if s.RestartPolicy == "" {
		s.RestartPolicy = corev1.RestartPolicyAlways
	}
	if s.DNSPolicy == "" {
		s.DNSPolicy = corev1.DNSClusterFirst
	}
	if s.TerminationGracePeriodSeconds == nil {
		g := DefaultGracePeriodSeconds
		s.TerminationGracePeriodSeconds = &g
	}
	if s.SchedulerName == "" {
		s.SchedulerName = corev1.DefaultSchedulerName
	}
	for i := range s.InitContainers {
		container(&s.InitContainers[i])
	}
	for i := range s.Containers {
		container(&s.Containers[i])
	}
	for i := range s.Volumes {
		v := &s.Volumes[i]
		mode := corev1.ConfigMapVolumeSourceDefaultMode
		if v.ConfigMap != nil && v.ConfigMap.DefaultMode == nil {
			v.ConfigMap.DefaultMode = &mode
		}
		if v.Secret != nil && v.Secret.DefaultMode == nil {
			smode := corev1.SecretVolumeSourceDefaultMode
			v.Secret.DefaultMode = &smode
		}
	}
}

func container(c *corev1.Container) {
	if c.ImagePullPolicy == "" {
		c.ImagePullPolicy = corev1.PullIfNotPresent
		if imageTag(c.Image) == "latest" {
			c.ImagePullPolicy = corev1.PullAlways
		}
	}
	if c.TerminationMessagePath == "" {
		c.TerminationMessagePath = corev1.TerminationMessagePathDefault
	}
	if c.TerminationMessagePolicy == "" {
		c.TerminationMessagePolicy = corev1.TerminationMessageReadFile
	}
	for i := range c.Ports {
		if c.Ports[i].Protocol == "" {
			c.Ports[i].Protocol = corev1.ProtocolTCP
		}
	}
	for _, p := range []*corev1.Probe{c.LivenessProbe, c.ReadinessProbe, c.StartupProbe} {
		probe(p)
	}
	if c.Lifecycle != nil {
		handlerScheme(c.Lifecycle.PreStop)
		handlerScheme(c.Lifecycle.PostStart)
	}
	for i := range c.Env {
		if r := c.Env[i].ValueFrom; r != nil && r.FieldRef != nil && r.FieldRef.APIVersion == "" {
			r.FieldRef.APIVersion = "v1"
		}
	}
}

func probe(p *corev1.Probe) {
	if p == nil {
		return
	}
	if p.TimeoutSeconds == 0 {
		p.TimeoutSeconds = 1
	}
	if p.PeriodSeconds == 0 {
		p.PeriodSeconds = 10
	}
	if p.SuccessThreshold == 0 {
		p.SuccessThreshold = 1
	}
	if p.FailureThreshold == 0 {
		p.FailureThreshold = 3
	}
	if p.HTTPGet != nil {
		httpGet(p.HTTPGet)
	}
}

func handlerScheme(h *corev1.LifecycleHandler) {
	if h != nil && h.HTTPGet != nil {
		httpGet(h.HTTPGet)
	}
}

func httpGet(h *corev1.HTTPGetAction) {
	if h.Path == "" {
		h.Path = "/"
	}
	if h.Scheme == "" {
		h.Scheme = corev1.URISchemeHTTP
	}
}

// imageTag returns the tag of an image reference, "latest" when it has
// neither tag nor digest.
func imageTag(image string) string {
	if strings.Contains(image, "@") {
		return ""
	}
	name := image[strings.LastIndex(image, "/")+1:]
	if i := strings.LastIndex(name, ":"); i >= 0 {
		return name[i+1:]
	}
	return "latest"
}

// intOrPercent25 is Kubernetes' default maxSurge and maxUnavailable.
var intOrPercent25 = intstr.FromString("25%")
