"""Tests of kd.feature_losses against hand computations and independent formulas."""
import itertools
import math

import pytest
import torch
import torch.nn.functional as F

from kd import feature_losses as fl


@pytest.fixture(autouse=True)
def _one_thread_and_seed():
    """Runs after conftest's fixture: one thread (the machine is shared) and a fixed seed."""
    torch.set_num_threads(1)
    torch.manual_seed(0)


def leaf(*shape, requires_grad=True):
    return torch.randn(*shape).requires_grad_(requires_grad)


def assert_grads(student: torch.Tensor, teacher: torch.Tensor):
    """The student input has a finite, non-zero gradient; the teacher none at all."""
    assert student.grad is not None and torch.isfinite(student.grad).all()
    assert student.grad.abs().sum() > 0
    assert teacher.grad is None


def huber(a: float, b: float) -> float:
    d = abs(a - b)
    return 0.5 * d * d if d < 1 else d - 0.5


# --- AT -----------------------------------------------------------------------------------------

def hand_attention(f: torch.Tensor) -> list[list[float]]:
    """mean_c f^2 at each position, divided by the Euclidean norm of the whole map."""
    out = []
    for ex in f.tolist():
        c, h, w = len(ex), len(ex[0]), len(ex[0][0])
        q = [sum(ex[k][i][j] ** 2 for k in range(c)) / c for i in range(h) for j in range(w)]
        n = math.sqrt(sum(v * v for v in q))
        out.append([v / n for v in q])
    return out


def test_attention_transfer_matches_hand_computation_over_two_pairs():
    s1, t1 = torch.randn(2, 3, 2, 2), torch.randn(2, 5, 2, 2)
    s2, t2 = torch.randn(2, 2, 3, 1), torch.randn(2, 4, 3, 1)
    expected = 0.0
    for s, t in ((s1, t1), (s2, t2)):
        a_s, a_t = hand_attention(s), hand_attention(t)
        sq = [(x - y) ** 2 for rs, rt in zip(a_s, a_t) for x, y in zip(rs, rt)]
        expected += 1000.0 * sum(sq) / len(sq)
    got = fl.attention_transfer([s1, s2], [t1, t2])
    assert got.item() == pytest.approx(expected, rel=1e-5)


def test_attention_transfer_weighs_beta_as_the_authors_code():
    """beta * sum over pairs (szagoruyko/attention-transfer's cifar.py, RepDistiller), not the
    paper's beta/2: pinned on 1x2 maps. Pair 1: maps [1, 0] and [0, 1], squared difference 1
    at both positions, mean 1. Pair 2: [1, 1] -> [1, 1]/sqrt(2) against [1, 0], mean
    ((1/sqrt(2) - 1)^2 + 1/2) / 2 = 1 - 1/sqrt(2). Total 1000 * (2 - 1/sqrt(2)) = 1292.89."""
    s1, t1 = torch.tensor([[[[1.0, 0.0]]]]), torch.tensor([[[[0.0, 1.0]]]])
    s2, t2 = torch.tensor([[[[1.0, 1.0]]]]), torch.tensor([[[[1.0, 0.0]]]])
    assert fl.attention_transfer([s1, s2], [t1, t2], beta=1000.0).item() == pytest.approx(
        1000.0 * (2 - 2 ** -0.5), rel=1e-6)
    assert fl.attention_transfer(s1, t1, beta=1.0).item() == pytest.approx(1.0, rel=1e-6)


def test_attention_transfer_zero_when_equal_and_invariant_to_teacher_scale():
    f = torch.randn(4, 8, 5, 5)
    assert fl.attention_transfer([f], [f.clone()]).item() == pytest.approx(0.0, abs=1e-8)
    assert fl.attention_transfer(f, 3.0 * f).item() == pytest.approx(0.0, abs=1e-6)
    assert fl.attention_transfer(f, torch.randn(4, 8, 5, 5)).item() > 1.0


def test_attention_transfer_pools_the_larger_map():
    s, t = torch.randn(2, 3, 4, 4), torch.randn(2, 6, 2, 2)
    # independent: mean of squares over each 2x2 block of the student, then the same formula
    blocks = s.pow(2).mean(1).reshape(2, 2, 2, 2, 2).mean(dim=(2, 4))       # (B, 2, 2)
    a_s = blocks.flatten(1) / blocks.flatten(1).norm(dim=1, keepdim=True)
    a_t = torch.tensor(hand_attention(t))
    expected = 1000.0 * (a_s - a_t).pow(2).mean().item()
    assert fl.attention_transfer(s, t).item() == pytest.approx(expected, rel=1e-5)
    assert fl.attention_transfer(t, s).item() == pytest.approx(expected, rel=1e-5)


def test_attention_transfer_gradients_reach_student_only():
    s, t = leaf(2, 3, 4, 4), leaf(2, 6, 4, 4)
    fl.attention_transfer([s], [t]).backward()
    assert_grads(s, t)


def test_attention_transfer_accepts_bf16():
    s, t = torch.randn(2, 3, 4, 4), torch.randn(2, 6, 4, 4)
    got = fl.attention_transfer(s.bfloat16(), t.bfloat16())
    assert got.dtype == torch.float32
    assert got.item() == pytest.approx(fl.attention_transfer(s, t).item(), rel=0.05)


# --- SP -----------------------------------------------------------------------------------------

def hand_sp(fs: torch.Tensor, ft: torch.Tensor, gamma: float) -> float:
    def gram(f):
        q = f.reshape(f.shape[0], -1).tolist()
        g = [[sum(a * b for a, b in zip(x, y)) for y in q] for x in q]
        return [[v / math.sqrt(sum(u * u for u in row)) for v in row] for row in g]
    gs, gt = gram(fs), gram(ft)
    b = len(gs)
    return gamma * sum((gs[i][j] - gt[i][j]) ** 2 for i in range(b) for j in range(b)) / b ** 2


def test_similarity_preserving_matches_hand_computation():
    fs, ft = torch.randn(3, 2, 2, 2), torch.randn(3, 5, 3, 3)    # shapes may differ
    got = fl.similarity_preserving(fs, ft)
    assert got.item() == pytest.approx(hand_sp(fs, ft, 3000.0), rel=1e-5)
    assert got.item() > 0


def test_similarity_preserving_zero_when_equal_or_rescaled():
    f = torch.randn(6, 4, 3, 3)
    assert fl.similarity_preserving(f, f.clone()).item() == pytest.approx(0.0, abs=1e-6)
    assert fl.similarity_preserving(f, 5.0 * f).item() == pytest.approx(0.0, abs=1e-5)


def test_similarity_preserving_gradients_reach_student_only():
    s, t = leaf(4, 3, 2, 2), leaf(4, 7, 2, 2)
    fl.similarity_preserving(s, t).backward()
    assert_grads(s, t)


# --- RKD ----------------------------------------------------------------------------------------

S_PTS = [[0.0, 0.0], [3.0, 0.0], [0.0, 4.0]]          # distances 3, 4, 5: mean 4
T_PTS = [[0.0, 0.0], [1.0, 0.0], [0.0, 1.0]]          # distances 1, 1, sqrt 2


def hand_distances(pts):
    n = len(pts)
    d = [[math.dist(pts[i], pts[j]) for j in range(n)] for i in range(n)]
    mu = sum(d[i][j] for i in range(n) for j in range(n) if i != j) / (n * (n - 1))
    return [[v / mu for v in row] for row in d]


def hand_cos(pts, i, j, k):
    """cos of the angle at pts[j] between pts[i] and pts[k]; 0 if degenerate."""
    u = [a - b for a, b in zip(pts[i], pts[j])]
    v = [a - b for a, b in zip(pts[k], pts[j])]
    nu, nv = math.hypot(*u), math.hypot(*v)
    return 0.0 if nu == 0 or nv == 0 else (u[0] * v[0] + u[1] * v[1]) / (nu * nv)


def test_rkd_distance_matches_hand_computation():
    ds, dt = hand_distances(S_PTS), hand_distances(T_PTS)
    assert ds[0][1] == pytest.approx(0.75) and ds[1][2] == pytest.approx(1.25)
    expected = sum(huber(ds[i][j], dt[i][j]) for i in range(3) for j in range(3)) / 9
    got = fl.rkd_distance(torch.tensor(S_PTS), torch.tensor(T_PTS))
    assert got.item() == pytest.approx(expected, rel=1e-5)


def test_rkd_angle_matches_hand_computation():
    pts_s = S_PTS + [[2.0, 2.0]]
    pts_t = T_PTS + [[-1.0, 0.5]]
    idx = list(itertools.product(range(4), repeat=3))
    expected = sum(huber(hand_cos(pts_s, i, j, k), hand_cos(pts_t, i, j, k)) for i, j, k in idx)
    got = fl.rkd_angle(torch.tensor(pts_s), torch.tensor(pts_t))
    assert got.item() == pytest.approx(expected / len(idx), rel=1e-5)
    assert got.item() > 0


def test_rkd_combined_weights_and_zero_when_teacher_is_a_similarity_transform():
    es, et = torch.randn(8, 5), torch.randn(8, 5)
    d, a = fl.rkd_distance(es, et).item(), fl.rkd_angle(es, et).item()
    assert fl.rkd(es, et).item() == pytest.approx(25 * d + 50 * a, rel=1e-5)
    assert fl.rkd(es, et, w_angle=0.0).item() == pytest.approx(25 * d, rel=1e-5)
    assert fl.rkd(es, et, w_dist=0.0).item() == pytest.approx(50 * a, rel=1e-5)
    q, _ = torch.linalg.qr(torch.randn(5, 5))
    moved = 3.0 * es @ q + 1.5                            # scaled, rotated, translated
    assert fl.rkd(es, moved).item() == pytest.approx(0.0, abs=1e-5)


def test_rkd_duplicated_embeddings_give_finite_loss_and_gradients():
    base = torch.randn(4, 6)
    es = torch.cat([base, base[:2]]).requires_grad_(True)      # rows 4, 5 duplicate rows 0, 1
    et = leaf(6, 6)
    loss = fl.rkd(es, et)
    loss.backward()
    assert torch.isfinite(loss)
    assert_grads(es, et)
    for same in (torch.ones(5, 3), torch.zeros(5, 3)):          # every embedding identical
        e = same.clone().requires_grad_(True)
        loss = fl.rkd(e, torch.randn(5, 3))
        loss.backward()
        assert torch.isfinite(loss) and torch.isfinite(e.grad).all()
    t = torch.cat([base, base[:2]])
    loss = fl.rkd(torch.randn(6, 6, requires_grad=True), t)     # duplicates on the teacher side
    assert torch.isfinite(loss)


# --- FSP ----------------------------------------------------------------------------------------

def hand_fsp(f1: torch.Tensor, f2: torch.Tensor) -> list:
    """G[b][i][j] = sum over positions of f1_i * f2_j, divided by h*w."""
    _, c1, h, w = f1.shape
    c2 = f2.shape[1]
    return [[[sum(f1[b, i, y, x].item() * f2[b, j, y, x].item() for y in range(h) for x in range(w))
              / (h * w) for j in range(c2)] for i in range(c1)] for b in range(f1.shape[0])]


def test_fsp_matrix_and_loss_match_hand_computation():
    s1, s2 = torch.randn(2, 2, 3, 3), torch.randn(2, 3, 3, 3)
    t1, t2 = torch.randn(2, 2, 3, 3), torch.randn(2, 3, 3, 3)
    gs, gt = hand_fsp(s1, s2), hand_fsp(t1, t2)
    got_g = fl.fsp_matrix(s1, s2)
    for b in range(2):
        for i in range(2):
            assert got_g[b, i].tolist() == pytest.approx(gs[b][i], rel=1e-5, abs=1e-6)
    per_example = [sum((gs[b][i][j] - gt[b][i][j]) ** 2 for i in range(2) for j in range(3))
                   for b in range(2)]
    expected = 0.5 * sum(per_example) / 2 / (2 * 3)   # batch mean, then mean over the 2x3 entries
    got = fl.fsp_loss([(s1, s2)], [(t1, t2)], weights=[0.5])
    assert got.item() == pytest.approx(expected, rel=1e-5)


def test_fsp_pools_larger_map_zero_when_equal_and_rejects_channel_mismatch():
    f1, f2 = torch.randn(2, 3, 4, 4), torch.randn(2, 5, 2, 2)
    pooled = f1.reshape(2, 3, 2, 2, 2, 2).mean(dim=(3, 5))
    assert torch.allclose(fl.fsp_matrix(f1, f2), fl.fsp_matrix(pooled, f2), atol=1e-6)
    pairs = [(f1, f2), (f2, f1)]
    assert fl.fsp_loss(pairs, [(a.clone(), b.clone()) for a, b in pairs]).item() == 0.0
    with pytest.raises(ValueError, match=r"\(2, 3, 4, 4\).*\(2, 4, 4, 4\)"):
        fl.fsp_loss([(f1, f2)], [(torch.randn(2, 4, 4, 4), f2)])


def test_fsp_gradients_reach_student_only():
    s1, s2, t1, t2 = leaf(2, 3, 4, 4), leaf(2, 2, 4, 4), leaf(2, 3, 4, 4), leaf(2, 2, 4, 4)
    fl.fsp_loss([(s1, s2)], [(t1, t2)]).backward()
    assert_grads(s1, t1)
    assert_grads(s2, t2)


# --- FitNet -------------------------------------------------------------------------------------

def test_hint_loss_is_half_squared_norm_averaged_over_batch():
    s, t = torch.randn(3, 2, 2, 2), torch.randn(3, 2, 2, 2)
    per_example = [sum((a - b) ** 2 for a, b in zip(s[i].flatten().tolist(), t[i].flatten().tolist()))
                   for i in range(3)]
    assert fl.hint_loss(s, t).item() == pytest.approx(0.5 * sum(per_example) / 3, rel=1e-5)
    assert fl.hint_loss(t.clone(), t).item() == 0.0
    with pytest.raises(ValueError, match="HintRegressor"):
        fl.hint_loss(s, torch.randn(3, 4, 2, 2))


@pytest.mark.parametrize("k,size_s,size_t", [(1, 8, 4), (3, 4, 8), (3, 4, 4)])
def test_hint_regressor_maps_to_teacher_shape_and_trains(k, size_s, size_t):
    reg = fl.HintRegressor(6, 10, kernel_size=k)
    s, t = leaf(2, 6, size_s, size_s), leaf(2, 10, size_t, size_t)
    out = reg(s, size=(size_t, size_t))
    assert out.shape == t.shape
    fl.hint_loss(out, t).backward()
    assert_grads(s, t)
    assert reg.conv.weight.grad is not None and torch.isfinite(reg.conv.weight.grad).all()
    assert reg.bn.weight.grad.abs().sum() > 0


def test_hint_regressor_ends_in_the_teachers_relu():
    x = torch.randn(4, 6, 5, 5)
    with_relu, without = fl.HintRegressor(6, 10), fl.HintRegressor(6, 10, relu=False)
    without.load_state_dict(with_relu.state_dict())
    raw = without(x)
    assert (raw < 0).any()
    torch.testing.assert_close(with_relu(x), torch.relu(raw))


# --- Tf-KD --------------------------------------------------------------------------------------

def test_tf_kd_virtual_teacher():
    p = fl.tf_kd_virtual_teacher(torch.tensor([2, 0]), 5, a=0.9)
    assert p.flatten().tolist() == pytest.approx([0.025, 0.025, 0.9, 0.025, 0.025,
                                                  0.9, 0.025, 0.025, 0.025, 0.025])
    assert p.dtype == torch.float32
    assert p.sum(1).tolist() == pytest.approx([1.0, 1.0])


@pytest.mark.parametrize("T", [1.0, 4.0, 20.0])
def test_tf_kd_reg_matches_hand_computation(T):
    s = torch.tensor([[1.0, 2.0, 0.5], [0.0, -1.0, 3.0]])
    labels = [1, 2]
    total = 0.0
    for z, c in zip(s.tolist(), labels):
        e = [math.exp(v / T) for v in z]
        q = [v / sum(e) for v in e]
        p = [0.8 if k == c else 0.1 for k in range(3)]
        total += sum(pk * (math.log(pk) - math.log(qk)) for pk, qk in zip(p, q))
    got = fl.tf_kd_reg(s, torch.tensor(labels), T, a=0.8, soften_virtual=False)
    assert got.item() == pytest.approx(T * T * total / 2, rel=1e-5)


def test_tf_kd_reg_softens_the_virtual_teacher_as_eq_9_writes_it():
    """p^d_T = softmax(log p^d / T): at T 20 and a 0.99 (Yuan's ResNet18 setting) the true
    class keeps 0.99^(1/20) / (0.99^(1/20) + 9 (0.01/9)^(1/20)) = 0.1350 of the mass."""
    T, a = 20.0, 0.99
    s = torch.tensor([[0.3, -0.2] + [0.0] * 8])
    w = [a ** (1 / T)] + [((1 - a) / 9) ** (1 / T)] * 9
    p = [v / sum(w) for v in w]
    assert p[0] == pytest.approx(0.1350, abs=1e-4)
    e = [math.exp(v / T) for v in s[0].tolist()]
    q = [v / sum(e) for v in e]
    expected = T * T * sum(pk * math.log(pk / qk) for pk, qk in zip(p, q))
    assert fl.tf_kd_reg(s, torch.tensor([0]), T, a=a).item() == pytest.approx(expected, rel=1e-4)


def test_tf_kd_reg_minimum_and_gradient():
    labels = torch.tensor([0, 3, 1])
    T = 4.0
    at_min = T * fl.tf_kd_virtual_teacher(labels, 5, 0.9).log()      # softmax(s/T) = p^d
    assert fl.tf_kd_reg(at_min, labels, T, 0.9, soften_virtual=False).item() == \
        pytest.approx(0.0, abs=1e-5)
    # softened (eq. 9, the default): the minimum moves to softmax(s/T) = softmax(log p^d / T)
    soft = F.softmax(fl.tf_kd_virtual_teacher(labels, 5, 0.9).log() / T, dim=1)
    assert fl.tf_kd_reg(T * soft.log(), labels, T, 0.9).item() == pytest.approx(0.0, abs=1e-5)
    assert fl.tf_kd_reg(T * soft.log(), labels, T, 0.9, soften_virtual=False).item() > 0.1
    s = leaf(3, 5)
    fl.tf_kd_reg(s, labels, T).backward()
    assert torch.isfinite(s.grad).all() and s.grad.abs().sum() > 0


# --- CRD ----------------------------------------------------------------------------------------

def test_crd_sample_indices_positive_first_never_a_negative_and_uniform():
    mem = fl.CRDMemory(n_data=5, dim=4, k=400)
    index = torch.tensor([0, 4, 2])
    idx = mem.sample_indices(index, torch.Generator().manual_seed(1))
    assert idx.shape == (3, 401)
    assert idx[:, 0].tolist() == [0, 4, 2]
    neg = idx[:, 1:]
    assert (neg != index.view(-1, 1)).all()
    assert neg.min() >= 0 and neg.max() <= 4
    for row, pos in zip(neg, index.tolist()):
        counts = torch.bincount(row, minlength=5).tolist()
        assert counts[pos] == 0 and all(60 < c < 140 for i, c in enumerate(counts) if i != pos)


def hand_crd_nce(v: torch.Tensor, memory: torch.Tensor, idx: torch.Tensor, n: int, tau: float):
    """The paper's NCE written with plain divisions; returns (loss, Z)."""
    scores = torch.stack([torch.exp(memory[row] @ vb / tau) for vb, row in zip(v, idx)]).double()
    z = scores.mean().item() * n
    p = scores / z
    k = idx.shape[1] - 1
    m_pn = k / n
    loss = 0.0
    for row in p.tolist():
        loss -= math.log(row[0] / (row[0] + m_pn))
        loss -= sum(math.log(m_pn / (x + m_pn)) for x in row[1:])
    return loss / len(idx), z


def test_crd_nce_value_z_and_memory_update():
    n, d, tau = 10, 4, 0.07
    mem = fl.CRDMemory(n_data=n, dim=d, k=6, tau=tau, momentum=0.5)
    v_s, v_t = F.normalize(torch.randn(3, d), dim=1), F.normalize(torch.randn(3, d), dim=1)
    index = torch.tensor([7, 1, 3])
    negatives = torch.tensor([[0, 2, 2, 9, 4, 5], [0, 3, 5, 6, 8, 9], [1, 2, 4, 6, 8, 9]])
    idx = torch.cat([index.view(-1, 1), negatives], 1)
    before_s, before_t = mem.memory_s.clone(), mem.memory_t.clone()
    loss_s, z_s = hand_crd_nce(v_s, before_t, idx, n, tau)   # student vs teacher memory
    loss_t, z_t = hand_crd_nce(v_t, before_s, idx, n, tau)
    got = mem(v_s, v_t, index, contrast_idx=negatives)
    assert got.item() == pytest.approx(loss_s + loss_t, rel=1e-4)   # uses the pre-update memory
    assert mem.z.tolist() == pytest.approx([z_s, z_t], rel=1e-4)
    # the batch's slots moved to normalise(0.5 old + 0.5 v); every other slot is untouched
    others = torch.tensor([i for i in range(n) if i not in index.tolist()])
    assert torch.equal(mem.memory_s[others], before_s[others])
    assert torch.equal(mem.memory_t[others], before_t[others])
    assert torch.allclose(mem.memory_s[index], F.normalize(0.5 * before_s[index] + 0.5 * v_s, dim=1))
    assert torch.allclose(mem.memory_t[index], F.normalize(0.5 * before_t[index] + 0.5 * v_t, dim=1))
    assert not torch.allclose(mem.memory_s[index], before_s[index])
    # Z is fixed after the first batch
    z = mem.z.clone()
    mem(F.normalize(torch.randn(3, d), dim=1), F.normalize(torch.randn(3, d), dim=1), index)
    assert torch.equal(mem.z, z)


def test_crd_scores_of_the_whole_bank_equal_the_gathered_slots_with_their_gradients():
    mem = fl.CRDMemory(n_data=30, dim=5, k=12)
    index = torch.tensor([4, 29, 0])
    idx = mem.sample_indices(index, torch.Generator().manual_seed(0))
    grads = []
    for full in (True, False):
        v = F.normalize(torch.randn(3, 5, generator=torch.Generator().manual_seed(1)), dim=1).requires_grad_()
        got = mem.scores(v, mem.memory_t, idx, full=full)
        assert got.shape == (3, 13)
        for b in range(3):
            for j in range(13):
                assert got[b, j].item() == pytest.approx((mem.memory_t[idx[b, j]] @ v[b]).item(), abs=1e-6)
        (got * torch.arange(13.0)).sum().backward()
        grads.append(v.grad)
    assert torch.allclose(grads[0], grads[1], atol=1e-6)


def test_crd_softmax_variant_is_infonce():
    n, d, tau = 8, 4, 0.5
    mem = fl.CRDMemory(n_data=n, dim=d, k=3, tau=tau, loss="softmax")
    v_s, v_t = F.normalize(torch.randn(2, d), dim=1), F.normalize(torch.randn(2, d), dim=1)
    index, negatives = torch.tensor([5, 0]), torch.tensor([[1, 2, 3], [4, 6, 7]])
    idx = torch.cat([index.view(-1, 1), negatives], 1)
    expected = 0.0
    for v, memory in ((v_s, mem.memory_t.clone()), (v_t, mem.memory_s.clone())):
        for vb, row in zip(v, idx):
            e = [math.exp((memory[i] @ vb).item() / tau) for i in row.tolist()]
            expected -= math.log(e[0] / sum(e)) / 2
    assert mem(v_s, v_t, index, negatives).item() == pytest.approx(expected, rel=1e-5)


def test_crd_loss_gradients_reach_student_and_both_heads_not_teacher_features():
    crd = fl.CRDLoss(s_dim=6, t_dim=9, n_data=50, dim=8, k=20)
    fs, ft = leaf(4, 6), leaf(4, 9)
    index = torch.tensor([3, 17, 40, 0])
    before = crd.memory.memory_s.clone()
    loss = crd(fs, ft, index)
    loss.backward()
    assert torch.isfinite(loss) and loss.item() > 0
    assert_grads(fs, ft)
    for head in (crd.embed_s, crd.embed_t):
        assert head.linear.weight.grad is not None and head.linear.weight.grad.abs().sum() > 0
    assert not crd.memory.memory_s.requires_grad
    changed = (crd.memory.memory_s != before).any(1).nonzero().squeeze(1)
    assert sorted(changed.tolist()) == sorted(index.tolist())
