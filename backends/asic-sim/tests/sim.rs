//! The ASIC simulator: its exact backend is the CPU backend bit for bit (the conformance
//! suite), its cost-only trace of bootstrapping counts what a real bootstrapping calls,
//! and its prices follow from the hardware description by hand-checkable formulas.

use fhe_backend_asic_sim::{
    exact_backend, trace_bootstrap, Hardware, Ledger, Pricer, Program, ShapeBackend, SimError,
    Step, Trace,
};
use fhe_backend_cpu::CpuBackend;
use fhe_dsl::circuits::BootstrapPreset;
use fhe_dsl::ckks::{Params, ParamsLiteral};
use fhe_dsl::model::Counts;

fhe_dsl::backend_conformance_tests!(fhe_backend_asic_sim::exact_backend(
    fhe_backend_cpu::CpuBackend::new()
));

fn small() -> Params {
    Params::new_insecure_for_tests(ParamsLiteral::test_small()).unwrap()
}

/// A chip where every unit does one word (or MAC) per cycle, HBM and scratchpad move one
/// byte per cycle, 64-bit words: prices are then plain word and byte counts.
fn unit_chip(scratchpad_mb: f64) -> Hardware {
    let mut h = Hardware::ark();
    h.name = "unit".into();
    h.clock_ghz = 1.0;
    h.units.ntt_words_per_cycle = 1.0;
    h.units.bconv_macs_per_cycle = 1.0;
    h.units.ewe_mults_per_cycle = 1.0;
    h.units.ewe_adds_per_cycle = 1.0;
    h.units.auto_words_per_cycle = 1.0;
    h.memory.hbm_tb_per_s = 1e-3;
    h.memory.onchip_tb_per_s = 1e3;
    h.memory.scratchpad_mb = scratchpad_mb;
    h.memory.keys_from_seed = false;
    h.memory.plaintexts_on_the_fly = false;
    h.validate("unit").unwrap();
    h
}

#[test]
fn bootstrapping_traced_without_arithmetic_counts_what_a_real_one_calls() {
    let preset = BootstrapPreset::test_tiny();
    let params = Params::new_insecure_for_tests(preset.params.clone()).unwrap();
    let top = params.max_level();
    for level in [top, top - 3] {
        let exact = trace_bootstrap(CpuBackend::new(), &params, &preset, level).unwrap();
        let shape = trace_bootstrap(ShapeBackend, &params, &preset, level).unwrap();
        assert_eq!(exact.counts, shape.counts, "level {level}");
        assert!(exact.same_as(&shape), "level {level}: key reuse differs");
        // a real bootstrapping: key switches (rotations, relinearisations) and its
        // CoeffToSlot/SlotToCoeff diagonals streamed in
        let c = &exact.counts;
        assert!(c.of("rotate_extended") + c.of("hoisted_rotations.keys") > 0);
        assert!(c.of("relinearize_rescale") > 0 && c.of("upload") > 0);
        // one key use per switch
        let switches = c.of("rotate_extended")
            + c.of("hoisted_rotations.keys")
            + c.of("relinearize_rescale")
            + c.of("key_switch")
            + c.of("key_switch_inner");
        assert_eq!(exact.key_uses.len() as u64, switches);
    }
}

#[test]
fn prices_follow_the_description() {
    let p = small();
    let n = p.n() as f64;
    let (k, alpha) = (p.p().len(), p.alpha());
    let hw = unit_chip(1e6);
    let pr = Pricer::new(&hw, &p, 0.0);
    assert!(pr.residency().ciphertexts_on_chip && pr.residency().keys_on_chip);
    // an NTT of 3 limbs: 3N words through a one-word-per-cycle unit
    let c = pr.charge_calls("ntt", 3, 1, 1.0).unwrap();
    assert_eq!(c.cycles, 3.0 * n);
    assert_eq!(c.unit_cycles[0], 3.0 * n);
    // ten calls cost ten times one
    assert_eq!(pr.charge_calls("ntt", 3, 10, 1.0).unwrap().cycles, 30.0 * n);
    // a multiply-add: N mults and N adds on two units running side by side
    assert_eq!(
        pr.charge_calls("mul_add_assign", 1, 1, 1.0).unwrap().cycles,
        n
    );
    // a rotation at l limbs with a streamed key (small scratchpad): digits × (l + K)
    // limbs of both halves, 8 bytes a word, over a one-byte-per-cycle HBM
    let l = p.limbs_at(p.max_level());
    let digits = l.div_ceil(alpha);
    let key_words = 2.0 * (digits * (l + k)) as f64 * n;
    let tight = Pricer::new(&unit_chip(0.5 * key_words * 8.0 / 1e6 + 10.0), &p, 1e12);
    assert!(tight.residency().ciphertexts_on_chip && !tight.residency().keys_on_chip);
    let rot = tight.charge_calls("rotate_extended", l, 1, 1.0).unwrap();
    assert_eq!(rot.work.key_bytes, 8.0 * key_words);
    assert!(rot.cycles >= 8.0 * key_words);
    assert_eq!(rot.hbm_cycles, 8.0 * key_words);
    // keys generated on chip from seeds: only the b halves stream
    let mut seeded = unit_chip(0.5 * key_words * 8.0 / 1e6 + 10.0);
    seeded.memory.keys_from_seed = true;
    let half = Pricer::new(&seeded, &p, 1e12)
        .charge_calls("rotate_extended", l, 1, 1.0)
        .unwrap();
    assert_eq!(half.work.key_bytes, 4.0 * key_words);
    // a cached key streams nothing
    let cached = tight.charge_calls("rotate_extended", l, 1, 0.0).unwrap();
    assert_eq!(cached.work.key_bytes, 0.0);
    // a 36-bit datapath stores a ~50-bit residue in more than one word
    let mut short = unit_chip(1e6);
    short.word_bits = 36;
    let wide = Pricer::new(&short, &p, 0.0)
        .charge_calls("ntt", 1, 1, 1.0)
        .unwrap();
    assert!(wide.cycles > n && wide.cycles < 2.0 * n, "{}", wide.cycles);
}

#[test]
fn equal_counts_price_equally_and_unknown_work_is_an_error() {
    let p = small();
    let mut c = Counts::new();
    c.add("ntt", 4, 3);
    c.add("hoisted_rotations", 4, 1);
    c.add("hoisted_rotations.keys", 4, 5);
    c.add("mul_add_terms", 4, 1);
    c.add("mul_add_terms.terms", 4, 7);
    let step = |name: &str| Step {
        name: name.into(),
        counts: c.clone(),
        key_uses: None,
    };
    let prog = Program::from_steps(&p, vec![step("a"), step("b")], 1e9);
    let r = prog.price(&Hardware::sharp()).unwrap();
    assert_eq!(r.steps.len(), 2);
    assert_eq!(r.steps[0].seconds, r.steps[1].seconds);
    assert!((r.seconds - 2.0 * r.steps[0].seconds).abs() < 1e-15);
    assert_eq!(r.counts.get("hoisted_rotations.keys", 4), 10);
    // the per-key part of hoisted rotations is charged to `hoisted_rotations`
    assert!(r
        .primitives
        .iter()
        .any(|x| x.op == "hoisted_rotations" && x.calls == 2));
    // a bootstrap step needs its circuit
    let mut b = Counts::new();
    b.add("bootstrap", 4, 1);
    let mut ledger = Ledger::new(Pricer::new(&Hardware::ark(), &p, 0.0));
    let e = ledger.charge_step("layer1.0.y", &b, None).unwrap_err();
    assert!(matches!(e, SimError::Unpriced { .. }));
    assert!(e.to_string().contains("layer1.0.y") && e.to_string().contains("bootstrap"));
    // with it, the step costs the circuit
    let circuit = Trace {
        counts: c.clone(),
        key_uses: vec![],
    };
    let mut ledger = ledger.with_bootstrap_circuit(4, circuit);
    ledger.charge_step("layer1.0.y", &b, None).unwrap();
    let mut plain = Ledger::new(Pricer::new(&Hardware::ark(), &p, 0.0));
    plain.charge_step("x", &c, None).unwrap();
    assert_eq!(ledger.report().seconds, plain.report().seconds);
    // a primitive no price exists for
    let mut odd = Counts::new();
    odd.add("teleport", 2, 1);
    assert!(plain.charge_step("y", &odd, None).is_err());
}

#[test]
fn the_key_cache_is_least_recently_used() {
    use fhe_backend_asic_sim::price::lru_misses;
    assert_eq!(lru_misses(&[1, 2, 1, 2], 2), 2);
    assert_eq!(lru_misses(&[1, 2, 1, 2], 1), 4);
    assert_eq!(lru_misses(&[1, 2, 3, 1], 2), 4);
    assert_eq!(lru_misses(&[1, 1, 1], 0), 3);
    assert_eq!(lru_misses(&[1, 2, 2, 1], 1), 3);
    // a step whose uses repeat one key streams it once when a key fits beside the
    // working set
    let p = small();
    let mut c = Counts::new();
    c.add("rotate_extended", 3, 4);
    let hw = unit_chip(1e6);
    let base = Pricer::new(&hw, &p, 1e15);
    assert!(!base.residency().keys_on_chip && base.residency().key_cache_keys >= 1);
    let price = |uses: Option<&[usize]>| {
        let mut l = Ledger::new(Pricer::new(&hw, &p, 1e15));
        l.charge_step("s", &c, uses).unwrap();
        l.report().offchip.keys
    };
    let all = price(None);
    assert_eq!(price(Some(&[7, 8, 9, 10])), all);
    assert_eq!(price(Some(&[7, 7, 7, 7])), all / 4.0);
}

#[test]
fn exact_backend_reports_its_own_name() {
    use fhe_dsl::backend::Backend;
    assert_eq!(exact_backend(CpuBackend::new()).name(), "asic-sim");
}

#[test]
fn degenerate_limb_counts_price_without_panicking() {
    let p = small();
    let pr = Pricer::new(&Hardware::sharp(), &p, 0.0);
    for op in [
        "div_round_by_tail",
        "rescale",
        "relinearize_rescale",
        "key_switch_inner",
        "mod_raise",
        "ntt",
    ] {
        for limbs in [0, 1] {
            let c = pr.charge_calls(op, limbs, 1, 1.0).unwrap();
            assert!(c.cycles.is_finite() && c.cycles >= 0.0, "{op} at {limbs}");
        }
    }
}
