"""The RFC 9162 tree against the published RFC 6962 reference vectors (the eight CT leaves)."""
from __future__ import annotations

import pytest

from hub.messagelog import merkle
from hub.messagelog.merkle import MemoryTree, ProofError

LEAVES = [bytes.fromhex(h) for h in (
    "", "00", "10", "2021", "3031", "40414243", "5051525354555657",
    "606162636465666768696a6b6c6d6e6f")]
ROOTS = [bytes.fromhex(h) for h in (
    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
    "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
    "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
    "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328")]


def h(*hexes: str) -> list[bytes]:
    return [bytes.fromhex(x) for x in hexes]


# (leaf index, tree size, proof): the reference inclusion proofs
INCLUSION = [
    (0, 1, []),
    (0, 8, h("96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
             "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
             "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4")),
    (5, 8, h("bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
             "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
             "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7")),
    (2, 3, h("fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125")),
    (1, 5, h("6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
             "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
             "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b")),
]

# (old size, new size, proof): the reference consistency proofs
CONSISTENCY = [
    (1, 1, []),
    (1, 8, h("96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
             "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
             "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4")),
    (6, 8, h("0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
             "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
             "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7")),
    (2, 5, h("5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
             "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b")),
    (6, 7, h("0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
             "b08693ec2e721597130641e8211e7eedccb4c26413963eee6c1e2ed16ffb1a5f",
             "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7")),
]


@pytest.fixture(scope="module")
def tree() -> MemoryTree:
    t = MemoryTree()
    for leaf in LEAVES:
        t.append_hash(merkle.leaf_hash(leaf))
    return t


def test_empty_tree_root_is_the_hash_of_nothing(tree: MemoryTree) -> None:
    assert merkle.root(tree.node, 0).hex() == (
        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")


@pytest.mark.parametrize("size", range(1, 9))
def test_roots_of_the_reference_leaves(tree: MemoryTree, size: int) -> None:
    assert merkle.root(tree.node, size) == ROOTS[size - 1]
    built = MemoryTree()
    for leaf in LEAVES[:size]:
        built.append_hash(merkle.leaf_hash(leaf))
    assert merkle.frontier_root(built.frontier) == ROOTS[size - 1]  # the appender's own root


@pytest.mark.parametrize("index,size,proof", INCLUSION)
def test_inclusion_proofs_match_and_verify(tree: MemoryTree, index: int, size: int,
                                           proof: list[bytes]) -> None:
    assert merkle.inclusion_proof(tree.node, index, size) == proof
    lh = merkle.leaf_hash(LEAVES[index])
    merkle.verify_inclusion(index, size, lh, proof, ROOTS[size - 1])


@pytest.mark.parametrize("index,size,proof", [p for p in INCLUSION if p[2]])
def test_corrupted_inclusion_proofs_fail(index: int, size: int, proof: list[bytes]) -> None:
    lh, root = merkle.leaf_hash(LEAVES[index]), ROOTS[size - 1]
    bad = [
        (index + 1, size, lh, proof, root),
        (index ^ 2, size, lh, proof, root),
        (index, size * 2, lh, proof, root),
        (index, size, merkle.leaf_hash(b"wrong"), proof, root),
        (index, size, lh, proof, merkle.EMPTY_ROOT),
        (index, size, lh, proof + [root], root),
        (index, size, lh, [root] + proof, root),
        (index, size, lh, proof[:-1], root),
        (index, size, lh, [bytes([proof[0][0] ^ 8]) + proof[0][1:]] + proof[1:], root),
    ]
    for args in bad:
        with pytest.raises(ProofError):
            merkle.verify_inclusion(*args)


@pytest.mark.parametrize("old,new,proof", CONSISTENCY)
def test_consistency_proofs_match_and_verify(tree: MemoryTree, old: int, new: int,
                                             proof: list[bytes]) -> None:
    assert merkle.consistency_proof(tree.node, old, new) == proof
    merkle.verify_consistency(old, new, ROOTS[old - 1], ROOTS[new - 1], proof)


@pytest.mark.parametrize("old,new,proof", [p for p in CONSISTENCY if p[2]])
def test_corrupted_consistency_proofs_fail(old: int, new: int, proof: list[bytes]) -> None:
    r1, r2 = ROOTS[old - 1], ROOTS[new - 1]
    bad = [
        (old - 1, new, r1, r2, proof), (old + 1, new, r1, r2, proof),
        (old, new * 2, r1, r2, proof), (old, new, r2, r1, proof),
        (old, new, r1, r2, []), (old, new, r1, r2, proof + [r1]),
        (old, new, r1, r2, [r2] + proof), (old, new, r1, r2, proof[:-1]),
        (old, new, r1, r2, [bytes([proof[0][0] ^ 16]) + proof[0][1:]] + proof[1:]),
    ]
    for args in bad:
        with pytest.raises(ProofError):
            merkle.verify_consistency(*args)


def test_edge_sizes() -> None:
    merkle.verify_consistency(0, 0, merkle.EMPTY_ROOT, merkle.EMPTY_ROOT, [])
    merkle.verify_consistency(0, 1, merkle.EMPTY_ROOT, ROOTS[0], [])
    with pytest.raises(ProofError):
        merkle.verify_consistency(2, 1, ROOTS[1], ROOTS[0], [])
    with pytest.raises(ProofError):
        merkle.verify_inclusion(0, 0, ROOTS[0], [], ROOTS[0])


def test_every_proof_of_a_larger_tree_verifies() -> None:
    t = MemoryTree()
    roots = []
    for i in range(70):
        t.append_hash(merkle.leaf_hash(str(i).encode()))
        roots.append(merkle.frontier_root(t.frontier))
    for size in range(1, 71):
        assert merkle.root(t.node, size) == roots[size - 1]
        for i in range(size):
            merkle.verify_inclusion(i, size, merkle.leaf_hash(str(i).encode()),
                                    merkle.inclusion_proof(t.node, i, size), roots[size - 1])
        for old in range(1, size + 1):
            merkle.verify_consistency(old, size, roots[old - 1], roots[size - 1],
                                      merkle.consistency_proof(t.node, old, size))
