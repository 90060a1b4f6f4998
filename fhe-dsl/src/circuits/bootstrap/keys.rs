//! The keys bootstrapping needs ([`BootstrappingKeys`]), among them the encapsulation
//! key ([`EncapsulationKey`]) that takes a ciphertext from the dense main secret to the
//! ephemeral sparse one at the small modulus `q0·p`.

use super::config::BootstrapConfig;
use crate::backend::Backend;
use crate::ckks::{Ckks, EvaluationKeys, KeyGenerator, KeyRequest, SecretKey, SwitchingKey};
use crate::error::Result;
use crate::math::sampling;
use crate::ring::RnsPoly;
use serde::{Deserialize, Serialize};

/// The level-0 key from the main secret `s` to the ephemeral sparse `s'`, modulo
/// `q0·p` only (`p` the first special prime): `b = −a·s' + e + p·s`, `a` from `seed`.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct EncapsulationKey {
    pub(crate) seed: [u8; 32],
    pub(crate) b: RnsPoly,
}

impl EncapsulationKey {
    /// Serialised size in bytes (seeded form).
    pub fn byte_size(&self) -> usize {
        32 + self.b.data.len() * 8
    }
}

/// Every key bootstrapping needs (plus whatever extra evaluation keys were asked for).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct BootstrappingKeys {
    /// Relinearisation, conjugation and rotation keys (bootstrapping's and the extras).
    pub evk: EvaluationKeys,
    /// Dense → sparse at level 0 (small modulus).
    pub to_sparse: EncapsulationKey,
    /// Sparse → dense over the full modulus.
    pub from_sparse: SwitchingKey,
}

impl BootstrappingKeys {
    /// Generates the keys for `config` under `sk`, together with the evaluation keys in
    /// `extra` (the program's own rotations, say). Bootstrapping's rotation keys are
    /// generated only up to the level each step is used at
    /// ([`BootstrapConfig::rotation_levels`]); a step also in `extra` gets one key at
    /// the higher of the two levels.
    pub fn generate<B: Backend>(
        kg: &mut KeyGenerator<'_, B>,
        ckks: &Ckks<B>,
        sk: &SecretKey,
        config: &BootstrapConfig,
        extra: &KeyRequest,
    ) -> Result<Self> {
        let params = ckks.params();
        let req = Self::key_request(params, config, extra)?;
        let evk = kg.evaluation_keys(sk, &req)?;
        let sparse = kg.sparse_secret_key(config.sparse_hamming_weight);
        let from_sparse = kg.switching_key_between(&sparse, sk)?;
        // dense → sparse modulo q0·p
        let (be, ctx) = (ckks.backend(), params.ring());
        let pa = ctx.p_indices().start;
        let primes = [0usize, pa];
        let seed = sampling::fresh_seed(kg.rng());
        let a = ckks.uniform(&seed, 0, &primes)?;
        let e = sampling::gaussian(kg.rng(), params.n());
        let mut b = ckks.small_to_ntt(&e, &primes)?;
        let mut as_ = a;
        be.mul_assign(ctx, &mut as_, &ckks.small_to_ntt(&sparse.coeffs, &primes)?)?;
        be.sub_assign(ctx, &mut b, &as_)?;
        let mut s0 = ckks.small_to_ntt(&sk.coeffs, &[0])?;
        let q0 = ctx.modulus(0);
        be.mul_scalar_assign(ctx, &mut s0, &[q0.reduce(ctx.modulus(pa).value())])?;
        let gadget = be.concat(ctx, &s0, &be.zero(ctx, &[pa])?)?;
        be.add_assign(ctx, &mut b, &gadget)?;
        Ok(BootstrappingKeys {
            evk,
            to_sparse: EncapsulationKey {
                seed,
                b: be.download(ctx, &b)?,
            },
            from_sparse,
        })
    }

    /// The evaluation keys [`generate`](Self::generate) makes for `config` and `extra`:
    /// `extra`, relinearisation, conjugation and bootstrapping's rotations up to their
    /// levels.
    pub fn key_request(
        params: &crate::ckks::Params,
        config: &BootstrapConfig,
        extra: &KeyRequest,
    ) -> Result<KeyRequest> {
        let mut req = extra.clone().relin().conjugate();
        req.rotations_up_to.extend(config.rotation_levels(params)?);
        Ok(req)
    }

    /// Total bytes (seeded form).
    pub fn byte_size(&self) -> usize {
        self.evk.byte_size() + self.to_sparse.byte_size() + self.from_sparse.byte_size()
    }
}
