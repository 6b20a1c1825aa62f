package console

// Quantile exposes quantile for tests.
func Quantile(q float64, bounds, cum []float64, count float64) (float64, bool) {
	return quantile(q, histogram{bounds: bounds, cum: cum, count: count})
}
