package validation

import (
	"fmt"
	"path"
	"reflect"
	"strings"

	"github.com/skiffhq/skiff/apis"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1validation "k8s.io/apimachinery/pkg/apis/meta/v1/validation"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/sets"
	utilvalidation "k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

var (
	restartPolicies = sets.New(string(corev1.RestartPolicyAlways), string(corev1.RestartPolicyOnFailure), string(corev1.RestartPolicyNever))
	pullPolicies    = sets.New(string(corev1.PullAlways), string(corev1.PullIfNotPresent), string(corev1.PullNever))
	protocols       = sets.New(string(corev1.ProtocolTCP), string(corev1.ProtocolUDP), string(corev1.ProtocolSCTP))
	dnsPolicies     = sets.New(string(corev1.DNSClusterFirst), string(corev1.DNSClusterFirstWithHostNet), string(corev1.DNSDefault), string(corev1.DNSNone))
	taintEffects    = sets.New(string(corev1.TaintEffectNoSchedule), string(corev1.TaintEffectPreferNoSchedule), string(corev1.TaintEffectNoExecute))
	tolerationOps   = sets.New(string(corev1.TolerationOpExists), string(corev1.TolerationOpEqual))
)

var specPath = field.NewPath("spec")

// Pod checks a Pod. On update only the fields Kubernetes lets change may
// change: container images, activeDeadlineSeconds, added tolerations, and
// spec.nodeName once (binding).
func Pod(obj, old apis.Object) field.ErrorList {
	pod := obj.(*corev1.Pod)
	errs := ObjectMeta(obj, old, true, DNSSubdomainName)
	errs = append(errs, PodSpec(&pod.Spec, specPath)...)
	if old != nil {
		errs = append(errs, podSpecUpdate(&pod.Spec, &old.(*corev1.Pod).Spec)...)
	}
	return errs
}

func podSpecUpdate(spec, old *corev1.PodSpec) field.ErrorList {
	// Compare the spec with the fields allowed to change copied over from
	// the new one; anything left different was not allowed to change.
	mutable := old.DeepCopy()
	for i := range mutable.Containers {
		if i < len(spec.Containers) {
			mutable.Containers[i].Image = spec.Containers[i].Image
		}
	}
	for i := range mutable.InitContainers {
		if i < len(spec.InitContainers) {
			mutable.InitContainers[i].Image = spec.InitContainers[i].Image
		}
	}
	mutable.ActiveDeadlineSeconds = spec.ActiveDeadlineSeconds
	if len(spec.Tolerations) >= len(old.Tolerations) && equality.Semantic.DeepEqual(spec.Tolerations[:len(old.Tolerations)], old.Tolerations) {
		mutable.Tolerations = spec.Tolerations
	}
	if old.NodeName == "" {
		mutable.NodeName = spec.NodeName
	}
	if equality.Semantic.DeepEqual(mutable, spec) {
		return nil
	}
	if old.NodeName != "" && spec.NodeName != old.NodeName {
		return field.ErrorList{field.Forbidden(specPath.Child("nodeName"), "a bound pod cannot move to another node")}
	}
	return field.ErrorList{field.Forbidden(specPath, "pod updates may not change fields other than container images, activeDeadlineSeconds, spec.tolerations (additions only) and an unset spec.nodeName")}
}

// PodSpec checks a pod spec, also when it is a template in a controller.
func PodSpec(spec *corev1.PodSpec, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	volumes, verrs := podVolumes(spec.Volumes, p.Child("volumes"))
	errs = append(errs, verrs...)

	if len(spec.Containers) == 0 {
		errs = append(errs, field.Required(p.Child("containers"), "a pod needs at least one container"))
	}
	names := sets.New[string]()
	for i := range spec.InitContainers {
		errs = append(errs, container(&spec.InitContainers[i], p.Child("initContainers").Index(i), names, volumes, true)...)
	}
	for i := range spec.Containers {
		errs = append(errs, container(&spec.Containers[i], p.Child("containers").Index(i), names, volumes, false)...)
	}
	if spec.RestartPolicy != "" && !restartPolicies.Has(string(spec.RestartPolicy)) {
		errs = append(errs, field.NotSupported(p.Child("restartPolicy"), spec.RestartPolicy, sets.List(restartPolicies)))
	}
	if spec.DNSPolicy != "" && !dnsPolicies.Has(string(spec.DNSPolicy)) {
		errs = append(errs, field.NotSupported(p.Child("dnsPolicy"), spec.DNSPolicy, sets.List(dnsPolicies)))
	}
	if spec.TerminationGracePeriodSeconds != nil {
		errs = append(errs, nonNegative(*spec.TerminationGracePeriodSeconds, p.Child("terminationGracePeriodSeconds"))...)
	}
	if spec.ActiveDeadlineSeconds != nil && *spec.ActiveDeadlineSeconds <= 0 {
		errs = append(errs, field.Invalid(p.Child("activeDeadlineSeconds"), *spec.ActiveDeadlineSeconds, "must be greater than 0"))
	}
	if spec.NodeName != "" {
		for _, msg := range utilvalidation.IsDNS1123Subdomain(spec.NodeName) {
			errs = append(errs, field.Invalid(p.Child("nodeName"), spec.NodeName, msg))
		}
	}
	errs = append(errs, metav1validation.ValidateLabels(spec.NodeSelector, p.Child("nodeSelector"))...)
	for i, t := range spec.Tolerations {
		errs = append(errs, toleration(t, p.Child("tolerations").Index(i))...)
	}
	return errs
}

func toleration(t corev1.Toleration, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	if t.Key != "" {
		errs = append(errs, metav1validation.ValidateLabelName(t.Key, p.Child("key"))...)
	}
	if t.Operator != "" && !tolerationOps.Has(string(t.Operator)) {
		errs = append(errs, field.NotSupported(p.Child("operator"), t.Operator, sets.List(tolerationOps)))
	}
	if t.Operator == corev1.TolerationOpExists && t.Value != "" {
		errs = append(errs, field.Invalid(p.Child("value"), t.Value, "must be empty when operator is Exists"))
	}
	if t.Key == "" && t.Operator != corev1.TolerationOpExists {
		errs = append(errs, field.Invalid(p.Child("operator"), t.Operator, "operator must be Exists when key is empty"))
	}
	if t.Effect != "" && !taintEffects.Has(string(t.Effect)) {
		errs = append(errs, field.NotSupported(p.Child("effect"), t.Effect, sets.List(taintEffects)))
	}
	if t.TolerationSeconds != nil && t.Effect != corev1.TaintEffectNoExecute {
		errs = append(errs, field.Invalid(p.Child("effect"), t.Effect, "tolerationSeconds needs effect NoExecute"))
	}
	return errs
}

// Taint checks a node taint.
func Taint(t corev1.Taint, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	errs = append(errs, metav1validation.ValidateLabelName(t.Key, p.Child("key"))...)
	if t.Value != "" {
		for _, msg := range utilvalidation.IsValidLabelValue(t.Value) {
			errs = append(errs, field.Invalid(p.Child("value"), t.Value, msg))
		}
	}
	if !taintEffects.Has(string(t.Effect)) {
		errs = append(errs, field.NotSupported(p.Child("effect"), t.Effect, sets.List(taintEffects)))
	}
	return errs
}

func podVolumes(vols []corev1.Volume, p *field.Path) (sets.Set[string], field.ErrorList) {
	var errs field.ErrorList
	names := sets.New[string]()
	for i, v := range vols {
		vp := p.Index(i)
		for _, msg := range utilvalidation.IsDNS1123Label(v.Name) {
			errs = append(errs, field.Invalid(vp.Child("name"), v.Name, msg))
		}
		if names.Has(v.Name) {
			errs = append(errs, field.Duplicate(vp.Child("name"), v.Name))
		}
		names.Insert(v.Name)
		if n := countSet(v.VolumeSource); n != 1 {
			errs = append(errs, field.Invalid(vp, v.Name, fmt.Sprintf("must specify exactly one volume source, found %d", n)))
		}
		switch {
		case v.ConfigMap != nil:
			if v.ConfigMap.Name == "" {
				errs = append(errs, field.Required(vp.Child("configMap", "name"), "the ConfigMap to mount"))
			}
			errs = append(errs, keyItems(v.ConfigMap.Items, v.ConfigMap.DefaultMode, vp.Child("configMap"))...)
		case v.Secret != nil:
			if v.Secret.SecretName == "" {
				errs = append(errs, field.Required(vp.Child("secret", "secretName"), "the Secret to mount"))
			}
			errs = append(errs, keyItems(v.Secret.Items, v.Secret.DefaultMode, vp.Child("secret"))...)
		case v.HostPath != nil:
			if !path.IsAbs(v.HostPath.Path) {
				errs = append(errs, field.Invalid(vp.Child("hostPath", "path"), v.HostPath.Path, "must be an absolute path"))
			}
		case v.EmptyDir != nil:
			if m := v.EmptyDir.Medium; m != corev1.StorageMediumDefault && m != corev1.StorageMediumMemory {
				errs = append(errs, field.NotSupported(vp.Child("emptyDir", "medium"), m, []string{"", "Memory"}))
			}
		case v.PersistentVolumeClaim != nil:
			if v.PersistentVolumeClaim.ClaimName == "" {
				errs = append(errs, field.Required(vp.Child("persistentVolumeClaim", "claimName"), "the claim to mount"))
			}
		}
	}
	return names, errs
}

// countSet counts the non-nil pointer fields of a one-of struct.
func countSet(oneOf any) int {
	v := reflect.ValueOf(oneOf)
	n := 0
	for i := 0; i < v.NumField(); i++ {
		if f := v.Field(i); f.Kind() == reflect.Pointer && !f.IsNil() {
			n++
		}
	}
	return n
}

func keyItems(items []corev1.KeyToPath, mode *int32, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	if mode != nil && (*mode < 0 || *mode > 0777) {
		errs = append(errs, field.Invalid(p.Child("defaultMode"), *mode, "must be a file mode between 0 and 0777 (octal)"))
	}
	for i, it := range items {
		ip := p.Child("items").Index(i)
		if it.Key == "" {
			errs = append(errs, field.Required(ip.Child("key"), ""))
		}
		errs = append(errs, relativePath(it.Path, ip.Child("path"))...)
		if it.Mode != nil && (*it.Mode < 0 || *it.Mode > 0777) {
			errs = append(errs, field.Invalid(ip.Child("mode"), *it.Mode, "must be a file mode between 0 and 0777 (octal)"))
		}
	}
	return errs
}

func relativePath(p string, fp *field.Path) field.ErrorList {
	switch {
	case p == "":
		return field.ErrorList{field.Required(fp, "")}
	case path.IsAbs(p):
		return field.ErrorList{field.Invalid(fp, p, "must be a relative path")}
	}
	for _, part := range strings.Split(p, "/") {
		if part == ".." {
			return field.ErrorList{field.Invalid(fp, p, "must not contain '..'")}
		}
	}
	return nil
}

func container(c *corev1.Container, p *field.Path, names, volumes sets.Set[string], init bool) field.ErrorList {
	var errs field.ErrorList
	for _, msg := range utilvalidation.IsDNS1123Label(c.Name) {
		errs = append(errs, field.Invalid(p.Child("name"), c.Name, msg))
	}
	if names.Has(c.Name) {
		errs = append(errs, field.Duplicate(p.Child("name"), c.Name))
	}
	names.Insert(c.Name)
	if strings.TrimSpace(c.Image) == "" {
		errs = append(errs, field.Required(p.Child("image"), "a container needs an image"))
	} else if strings.ContainsAny(c.Image, " \t\n") {
		errs = append(errs, field.Invalid(p.Child("image"), c.Image, "must not contain whitespace"))
	}
	if c.ImagePullPolicy != "" && !pullPolicies.Has(string(c.ImagePullPolicy)) {
		errs = append(errs, field.NotSupported(p.Child("imagePullPolicy"), c.ImagePullPolicy, sets.List(pullPolicies)))
	}
	portNames := sets.New[string]()
	for i, port := range c.Ports {
		pp := p.Child("ports").Index(i)
		errs = append(errs, portNumber(port.ContainerPort, pp.Child("containerPort"))...)
		if port.HostPort != 0 {
			errs = append(errs, portNumber(port.HostPort, pp.Child("hostPort"))...)
		}
		if port.Protocol != "" && !protocols.Has(string(port.Protocol)) {
			errs = append(errs, field.NotSupported(pp.Child("protocol"), port.Protocol, sets.List(protocols)))
		}
		if port.Name != "" {
			for _, msg := range utilvalidation.IsValidPortName(port.Name) {
				errs = append(errs, field.Invalid(pp.Child("name"), port.Name, msg))
			}
			if portNames.Has(port.Name) {
				errs = append(errs, field.Duplicate(pp.Child("name"), port.Name))
			}
			portNames.Insert(port.Name)
		}
	}
	for i, e := range c.Env {
		errs = append(errs, envVar(e, p.Child("env").Index(i))...)
	}
	for i, e := range c.EnvFrom {
		ep := p.Child("envFrom").Index(i)
		n := 0
		if e.ConfigMapRef != nil {
			n++
		}
		if e.SecretRef != nil {
			n++
		}
		if n != 1 {
			errs = append(errs, field.Invalid(ep, "", "must specify exactly one of configMapRef or secretRef"))
		}
	}
	errs = append(errs, resources(c.Resources, p.Child("resources"))...)
	mountPaths := sets.New[string]()
	for i, m := range c.VolumeMounts {
		mp := p.Child("volumeMounts").Index(i)
		if !volumes.Has(m.Name) {
			errs = append(errs, field.NotFound(mp.Child("name"), m.Name))
		}
		if m.MountPath == "" {
			errs = append(errs, field.Required(mp.Child("mountPath"), ""))
		} else if mountPaths.Has(m.MountPath) {
			errs = append(errs, field.Invalid(mp.Child("mountPath"), m.MountPath, "must be unique"))
		}
		mountPaths.Insert(m.MountPath)
	}
	if init {
		for _, probe := range []struct {
			name string
			set  bool
		}{{"livenessProbe", c.LivenessProbe != nil}, {"readinessProbe", c.ReadinessProbe != nil}, {"startupProbe", c.StartupProbe != nil}} {
			if probe.set {
				errs = append(errs, field.Forbidden(p.Child(probe.name), "may not be set for init containers"))
			}
		}
	} else {
		errs = append(errs, probe(c.LivenessProbe, p.Child("livenessProbe"), portNames, true)...)
		errs = append(errs, probe(c.ReadinessProbe, p.Child("readinessProbe"), portNames, false)...)
		errs = append(errs, probe(c.StartupProbe, p.Child("startupProbe"), portNames, true)...)
	}
	if c.Lifecycle != nil && c.Lifecycle.PreStop != nil {
		errs = append(errs, lifecycleHandler(c.Lifecycle.PreStop, p.Child("lifecycle", "preStop"), portNames)...)
	}
	if c.Lifecycle != nil && c.Lifecycle.PostStart != nil {
		errs = append(errs, lifecycleHandler(c.Lifecycle.PostStart, p.Child("lifecycle", "postStart"), portNames)...)
	}
	return errs
}

func portNumber(port int32, p *field.Path) field.ErrorList {
	if port < 1 || port > 65535 {
		return field.ErrorList{field.Invalid(p, port, "must be between 1 and 65535, inclusive")}
	}
	return nil
}

func envVar(e corev1.EnvVar, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	if e.Name == "" {
		errs = append(errs, field.Required(p.Child("name"), ""))
	} else {
		for _, msg := range utilvalidation.IsEnvVarName(e.Name) {
			errs = append(errs, field.Invalid(p.Child("name"), e.Name, msg))
		}
	}
	if e.ValueFrom != nil {
		if e.Value != "" {
			errs = append(errs, field.Invalid(p.Child("valueFrom"), "", "may not be specified when `value` is not empty"))
		}
		n := countSet(*e.ValueFrom)
		if n != 1 {
			errs = append(errs, field.Invalid(p.Child("valueFrom"), "", "must specify exactly one of fieldRef, resourceFieldRef, configMapKeyRef, secretKeyRef"))
		}
		if r := e.ValueFrom.ConfigMapKeyRef; r != nil && (r.Name == "" || r.Key == "") {
			errs = append(errs, field.Required(p.Child("valueFrom", "configMapKeyRef"), "name and key are required"))
		}
		if r := e.ValueFrom.SecretKeyRef; r != nil && (r.Name == "" || r.Key == "") {
			errs = append(errs, field.Required(p.Child("valueFrom", "secretKeyRef"), "name and key are required"))
		}
		if r := e.ValueFrom.FieldRef; r != nil && r.FieldPath == "" {
			errs = append(errs, field.Required(p.Child("valueFrom", "fieldRef", "fieldPath"), ""))
		}
	}
	return errs
}

func resources(r corev1.ResourceRequirements, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	check := func(list corev1.ResourceList, lp *field.Path) {
		for name, q := range list {
			if q.Sign() < 0 {
				errs = append(errs, field.Invalid(lp.Key(string(name)), q.String(), "must be greater than or equal to 0"))
			}
		}
	}
	check(r.Requests, p.Child("requests"))
	check(r.Limits, p.Child("limits"))
	for name, req := range r.Requests {
		if lim, ok := r.Limits[name]; ok && req.Cmp(lim) > 0 {
			errs = append(errs, field.Invalid(p.Child("requests").Key(string(name)), req.String(), fmt.Sprintf("must be less than or equal to %s limit of %s", name, lim.String())))
		}
	}
	return errs
}

// Quantity parses a resource quantity for validation messages elsewhere.
func Quantity(s string, p *field.Path) (resource.Quantity, field.ErrorList) {
	q, err := resource.ParseQuantity(s)
	if err != nil {
		return q, field.ErrorList{field.Invalid(p, s, err.Error())}
	}
	return q, nil
}

func probe(pr *corev1.Probe, p *field.Path, portNames sets.Set[string], successMustBeOne bool) field.ErrorList {
	if pr == nil {
		return nil
	}
	var errs field.ErrorList
	n := countSet(pr.ProbeHandler)
	if n != 1 {
		errs = append(errs, field.Invalid(p, "", "must specify exactly one of exec, httpGet, tcpSocket, grpc"))
	}
	errs = append(errs, handlerPorts(pr.HTTPGet, pr.TCPSocket, p, portNames)...)
	if pr.Exec != nil && len(pr.Exec.Command) == 0 {
		errs = append(errs, field.Required(p.Child("exec", "command"), ""))
	}
	errs = append(errs, nonNegative(int64(pr.InitialDelaySeconds), p.Child("initialDelaySeconds"))...)
	errs = append(errs, nonNegative(int64(pr.TimeoutSeconds), p.Child("timeoutSeconds"))...)
	errs = append(errs, nonNegative(int64(pr.PeriodSeconds), p.Child("periodSeconds"))...)
	errs = append(errs, nonNegative(int64(pr.SuccessThreshold), p.Child("successThreshold"))...)
	errs = append(errs, nonNegative(int64(pr.FailureThreshold), p.Child("failureThreshold"))...)
	if successMustBeOne && pr.SuccessThreshold > 1 {
		errs = append(errs, field.Invalid(p.Child("successThreshold"), pr.SuccessThreshold, "must be 1 for liveness and startup probes"))
	}
	return errs
}

func lifecycleHandler(h *corev1.LifecycleHandler, p *field.Path, portNames sets.Set[string]) field.ErrorList {
	var errs field.ErrorList
	if countSet(*h) != 1 {
		errs = append(errs, field.Invalid(p, "", "must specify exactly one of exec, httpGet, tcpSocket, sleep"))
	}
	errs = append(errs, handlerPorts(h.HTTPGet, h.TCPSocket, p, portNames)...)
	if h.Sleep != nil && h.Sleep.Seconds < 0 {
		errs = append(errs, field.Invalid(p.Child("sleep", "seconds"), h.Sleep.Seconds, "must be greater than or equal to 0"))
	}
	return errs
}

func handlerPorts(httpGet *corev1.HTTPGetAction, tcp *corev1.TCPSocketAction, p *field.Path, portNames sets.Set[string]) field.ErrorList {
	var errs field.ErrorList
	if httpGet != nil {
		errs = append(errs, namedOrNumberPort(httpGet.Port, p.Child("httpGet", "port"), portNames)...)
		if s := httpGet.Scheme; s != "" && s != corev1.URISchemeHTTP && s != corev1.URISchemeHTTPS {
			errs = append(errs, field.NotSupported(p.Child("httpGet", "scheme"), s, []string{"HTTP", "HTTPS"}))
		}
	}
	if tcp != nil {
		errs = append(errs, namedOrNumberPort(tcp.Port, p.Child("tcpSocket", "port"), portNames)...)
	}
	return errs
}

func namedOrNumberPort(port intstr.IntOrString, p *field.Path, portNames sets.Set[string]) field.ErrorList {
	if port.Type == intstr.String {
		for _, msg := range utilvalidation.IsValidPortName(port.StrVal) {
			return field.ErrorList{field.Invalid(p, port.StrVal, msg)}
		}
		if !portNames.Has(port.StrVal) {
			return field.ErrorList{field.Invalid(p, port.StrVal, "must name a port of this container")}
		}
		return nil
	}
	return portNumber(port.IntVal, p)
}

// PodTemplate checks a controller's pod template and that its labels
// satisfy the controller's selector.
func PodTemplate(t *corev1.PodTemplateSpec, p *field.Path) field.ErrorList {
	errs := metav1validation.ValidateLabels(t.Labels, p.Child("metadata", "labels"))
	errs = append(errs, PodSpec(&t.Spec, p.Child("spec"))...)
	if t.Spec.RestartPolicy != "" && t.Spec.RestartPolicy != corev1.RestartPolicyAlways {
		errs = append(errs, field.NotSupported(p.Child("spec", "restartPolicy"), t.Spec.RestartPolicy, []string{"Always"}))
	}
	return errs
}
