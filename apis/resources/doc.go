// Package resources is the registry of every kind skiff serves: its group,
// version, plural and short names, scope, how to make an empty object,
// defaulting, validation, selectable fields and which manifest fields skiff
// acts on. Each resource family is one file; registry.go lists them.
package resources
