// Package volumes prepares pods' volumes on the node. For each volume of a
// pod, Manager.Setup returns the host path the runtime bind-mounts into the
// containers:
//
//	<root>/pods/<pod uid>/volumes/emptydir/<name>     a directory, or a tmpfs (medium: Memory)
//	<root>/pods/<pod uid>/volumes/configmap/<name>    ConfigMap keys as files
//	<root>/pods/<pod uid>/volumes/secret/<name>       Secret keys as files, on a tmpfs
//	<root>/pods/<pod uid>/volumes/projected/<name>    several sources, on a tmpfs
//	<root>/pods/<pod uid>/volumes/downwardapi/<name>  pod metadata as files
//	hostPath volumes                                  the host path itself, after its type check
//
// Setup is idempotent and runs on every pod sync, which is also how updates
// land: a volume of files whose content changed is rewritten by an atomic
// swap, as the kubelet does. The files live in a hidden timestamped
// directory (..2026_12_02_15_04_05.123456789); ..data is a symlink to it and
// each user-visible entry is a symlink through ..data (key -> ..data/key).
// An update writes a new timestamped directory, renames a new symlink over
// ..data, fixes the user-visible links and deletes the old directory, so a
// reader sees the old set of files or the new one, never a mix; a file a
// container holds open keeps its old content. Unchanged content is not
// written at all.
//
// Errors the pod's author must fix (a missing ConfigMap, a key not in it, a
// failed hostPath type check, an unsupported volume kind) are *ConfigError
// values naming the volume; the agent shows them as the reason a pod waits.
//
// Mounts go through a Mounter: HostMounter on the node, FakeMounter in tests.
package volumes
