package pki

// KDFCostAbove reports whether der asks for more than maxIterations rounds
// of key derivation. Fuzz targets skip such inputs: they are correct to
// accept up to MaxKDFIterations, but one such input takes seconds.
func KDFCostAbove(der []byte, maxIterations int64) bool {
	return walkDER(der, maxIterations, 0) != nil
}
