// Package lab reproduces the common ways mutual TLS breaks, one Kind at a
// time, over real loopback connections.
//
// Each Kind writes a set of files into a directory (a CA, keystores and
// truststores, most of them sound and one of them broken in a specific
// way) and describes how the server and client run with them: a Scenario.
// Run loads the files the way the mtls commands do, starts the server on
// 127.0.0.1, makes one call and returns what each side observed, with
// pki's diagnosis of each error:
//
//	kind, _ := lab.Lookup("server-cert-expired")
//	sc, err := kind.Build(dir)
//	if err != nil { ... }
//	obs := lab.Run(ctx, sc)
//	fmt.Println(obs.Client.Err, obs.Client.Diagnosis)
//
// The lab's tests run every kind and compare both sides' messages with
// the troubleshooting guide, and 'mtls lab' runs or writes any kind from
// the command line.
package lab
