// Package endpoints is the Endpoints controller: for every Service with a
// selector it keeps an Endpoints object of the same name listing the pods
// the selector matches, by IP, with each Service port resolved to the
// pod's port (a named targetPort is looked up among each pod's container
// ports, so pods may differ). Ready pods are listed as addresses, pods not
// ready as notReadyAddresses; a pod being deleted is left out at once, so
// that the proxiers stop sending it new connections while it shuts down.
// Services without a selector keep whatever Endpoints their owner writes.
package endpoints
