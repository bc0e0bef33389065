package servers

import "encoding/pem"

// nextCert returns the DER of the next CERTIFICATE block and the rest.
func nextCert(rest []byte) ([]byte, []byte) {
	for {
		var b *pem.Block
		b, rest = pem.Decode(rest)
		if b == nil {
			return nil, nil
		}
		if b.Type == "CERTIFICATE" {
			return b.Bytes, rest
		}
	}
}
