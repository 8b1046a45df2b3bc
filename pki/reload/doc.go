// Package reload keeps a side's certificate, key and truststore current
// without a restart.
//
// A Watcher loads the files named by Files, checks them as one set (the key
// belongs to the certificate, the certificate is valid now and carries the
// extended key usage of its role, and its chain builds to the truststore)
// and serves them through a tls.Config. It watches the files' directories
// with fsnotify, so editors that rename a new file over the old one and
// Kubernetes secret volumes, which swap a symlinked "..data" directory, are
// both noticed, and it re-reads the files at an interval as a fallback. A
// changed set that passes the checks is swapped in atomically: new
// handshakes use it, and connections already open keep running. A set that
// fails is rejected, the last good set stays in use, and OnReload reports
// why.
//
// On a server, the config from ServerTLSConfig switches the certificate and
// the accepted client CAs together, through GetConfigForClient:
//
//	w, err := reload.New(reload.Files{
//		Keystore:   pki.KeystoreSource{CertFile: "server.crt", KeyFile: "server.key"},
//		Truststore: pki.TruststoreSource{File: "ca.crt"},
//	}, reload.Options{Role: pki.RoleServer, OnReload: func(e reload.Event) { ... }})
//	if err != nil { ... }
//	go w.Run(ctx)
//	srv := server.New(w.ServerTLSConfig(), server.Options{})
//
// On a client, ClientTLSConfig returns the config of the current set; call
// it for every new connection, as client.DialReloading does, so that
// crypto/tls verifies each server against the truststore of that moment.
//
// A reload changes what new handshakes use. Open connections keep the
// certificates they were made with until they close, so pair reloading with
// a maximum connection age (server.WithMaxConnectionAge on the server,
// client.RotationOptions on the client) to make long-lived connections pick
// up the new set.
//
// The package never logs: it reports every reload and every rejected set
// through Options.OnReload, with the certificate's subject, serial and
// expiry and never any key material.
package reload
