// Package client dials the demo service over mutual TLS and makes its
// calls.
//
//	cfg, _ := pki.ClientTLSConfig(keystore, truststore, "server", pki.TLSOptions{})
//	c, err := client.Dial("server:8443", cfg)
//	if err != nil { ... }
//	defer c.Close()
//	res, err := c.WhoAmI(ctx)
//	if err != nil {
//		fmt.Println(pki.Diagnose(err, pki.RoleClient)) // plain-language cause
//	}
//
// Dialing is lazy, as in grpc.NewClient: the TLS handshake happens at the
// first call, so certificate errors surface there. With TLS 1.3 a server
// that rejects the client certificate does so after the client considers
// the handshake done, and the rejection reaches the client only as the
// first call's error.
package client
