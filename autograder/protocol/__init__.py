"""The only bytes that cross the trust boundary: plans going in, results coming out."""
