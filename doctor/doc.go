// Package doctor checks the certificates one side of a mutual TLS
// connection uses, and optionally a live server, and reports each problem
// with its severity and fix.
//
// Offline, Check loads a keystore and a truststore (PEM or PKCS#12). It
// checks that the key matches the certificate, the chain builds to the
// truststore, the extended key usage fits the role and the SANs cover the
// names the side is reached at. It also checks the validity now and some
// days ahead, key size, signature algorithm, serial number and CA
// constraints, and lints every certificate with zlint. With Options.Addr it also connects
// to the server and reports what the server presented, which CAs it
// accepts for client certificates, the TLS version and ALPN protocol,
// and whether a health call with our certificate goes through.
//
//	report := doctor.Check(ctx, doctor.Options{
//		Role:       pki.RoleClient,
//		Keystore:   pki.KeystoreSource{CertFile: "client.crt", KeyFile: "client.key"},
//		Truststore: pki.TruststoreSource{File: "ca.crt"},
//		Addr:       "localhost:8443",
//	})
//	if report.HasErrors() { ... }
package doctor
