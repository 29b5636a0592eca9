# Number formatting shared by the bench scripts: commas, f (a figure with
# a sensible number of digits), summary (median [min–max] of vals[1..n]).
function commas(x,   s, out, neg) {
	neg = x < 0; s = sprintf("%.0f", neg ? -x : x); out = ""
	while (length(s) > 3) { out = "," substr(s, length(s) - 2) out; s = substr(s, 1, length(s) - 3) }
	return (neg ? "-" : "") s out
}
function f(x) {
	if (x == "") return "–"
	if (x + 0 >= 1000 || x + 0 <= -1000) return commas(x)
	if (x + 0 >= 100) return sprintf("%.0f", x)
	if (x + 0 >= 10) return sprintf("%.1f", x)
	if (x + 0 >= 1) return sprintf("%.2f", x)
	return sprintf("%.3g", x)
}
function summary(vals, n,   i, j, t, med) {
	for (i = 2; i <= n; i++) { t = vals[i]; for (j = i - 1; j >= 1 && vals[j] > t; j--) vals[j + 1] = vals[j]; vals[j + 1] = t }
	med = (n % 2) ? vals[(n + 1) / 2] : (vals[n / 2] + vals[n / 2 + 1]) / 2
	if (n == 1) return f(med) " (n=1)"
	return f(med) " [" f(vals[1]) "–" f(vals[n]) "]"
}
