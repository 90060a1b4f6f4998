//! Plaintext (float64) counterparts of the encrypted operations, on slices: the reference
//! a model's encrypted output is checked against. The layers' own references are
//! [`Dense::apply_plain`](super::Dense::apply_plain),
//! [`Diagonal::apply_plain`](super::Diagonal::apply_plain) and
//! [`Poly::apply_plain`](super::Poly::apply_plain).

/// Left rotation by `step` (negative: right), cyclic over `x.len()`.
///
/// ```
/// assert_eq!(fhe_dsl::typed::plain::rotate(&[1.0, 2.0, 3.0, 4.0], 1), vec![2.0, 3.0, 4.0, 1.0]);
/// assert_eq!(fhe_dsl::typed::plain::rotate(&[1.0, 2.0, 3.0, 4.0], -1), vec![4.0, 1.0, 2.0, 3.0]);
/// ```
pub fn rotate(x: &[f64], step: i64) -> Vec<f64> {
    let n = x.len() as i64;
    if n == 0 {
        return Vec::new();
    }
    (0..n)
        .map(|j| x[(j + step).rem_euclid(n) as usize])
        .collect()
}

/// Every slot ← the sum of all slots.
///
/// ```
/// assert_eq!(fhe_dsl::typed::plain::sum(&[1.0, 2.0, 3.0, 4.0]), vec![10.0; 4]);
/// ```
pub fn sum(x: &[f64]) -> Vec<f64> {
    let s: f64 = x.iter().sum();
    vec![s; x.len()]
}

/// Element-wise `a + b`.
///
/// ```
/// assert_eq!(fhe_dsl::typed::plain::add(&[1.0, 2.0], &[0.5, 0.5]), vec![1.5, 2.5]);
/// ```
pub fn add(a: &[f64], b: &[f64]) -> Vec<f64> {
    a.iter().zip(b).map(|(x, y)| x + y).collect()
}

/// Element-wise `a · b`.
///
/// ```
/// assert_eq!(fhe_dsl::typed::plain::mul(&[1.0, 2.0], &[3.0, 0.5]), vec![3.0, 1.0]);
/// ```
pub fn mul(a: &[f64], b: &[f64]) -> Vec<f64> {
    a.iter().zip(b).map(|(x, y)| x * y).collect()
}
