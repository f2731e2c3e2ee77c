"""Rotations and rigid transforms against scipy.spatial.transform and hand-checked REP-103 cases."""

import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from depth_ros.core.errors import InvalidInputError
from depth_ros.core.transforms import (
    OPTICAL_FROM_BODY,
    RigidTransform,
    body_extrinsic_to_optical,
    matrix_to_quat,
    matrix_to_rpy,
    quat_to_matrix,
    rpy_to_matrix,
    so3_exp,
    so3_exp_batch,
    so3_log,
)

RNG_SEED = 1234


def _random_rotations(n=200):
    return Rotation.random(n, random_state=RNG_SEED)


def test_quat_to_matrix_matches_scipy_and_normalises():
    rots = _random_rotations()
    for q in rots.as_quat():  # scipy is (x, y, z, w) too
        np.testing.assert_allclose(quat_to_matrix(q * 3.7), Rotation.from_quat(q).as_matrix(), atol=1e-12)


def test_matrix_to_quat_matches_scipy_up_to_sign_and_round_trips():
    for R in _random_rotations().as_matrix():
        q = matrix_to_quat(R)
        ref = Rotation.from_matrix(R).as_quat()
        ref = -ref if ref[3] < 0 else ref
        assert q[3] >= 0
        np.testing.assert_allclose(q, ref, atol=1e-12)
        np.testing.assert_allclose(quat_to_matrix(q), R, atol=1e-12)


@pytest.mark.parametrize("angle", [np.pi, np.pi - 1e-7])
def test_matrix_to_quat_near_half_turn(angle):
    axis = np.array([0.3, -0.5, 0.8]) / np.linalg.norm([0.3, -0.5, 0.8])
    R = Rotation.from_rotvec(axis * angle).as_matrix()
    np.testing.assert_allclose(quat_to_matrix(matrix_to_quat(R)), R, atol=1e-12)


@pytest.mark.parametrize("q", [[0, 0, 0, 0], [np.nan, 0, 0, 1], [0, 0, np.inf, 1], [1, 2, 3]])
def test_bad_quaternions_are_rejected(q):
    with pytest.raises(InvalidInputError, match="quaternion"):
        quat_to_matrix(q)


def test_non_rotation_matrix_is_rejected():
    with pytest.raises(InvalidInputError, match="not a rotation"):
        matrix_to_quat(np.diag([1.0, 1.0, -1.0]))
    with pytest.raises(InvalidInputError, match="not a rotation"):
        RigidTransform(np.eye(3) * 2.0, np.zeros(3))


def test_rpy_matches_scipy_extrinsic_xyz():
    rng = np.random.default_rng(RNG_SEED)
    for roll, pitch, yaw in rng.uniform([-np.pi, -np.pi / 2, -np.pi], [np.pi, np.pi / 2, np.pi], (200, 3)):
        R = rpy_to_matrix(roll, pitch, yaw)
        np.testing.assert_allclose(R, Rotation.from_euler("xyz", [roll, pitch, yaw]).as_matrix(), atol=1e-12)
        np.testing.assert_allclose(matrix_to_rpy(R), [roll, pitch, yaw], atol=1e-9)


def test_rpy_hand_checked_yaw():
    # Yaw +90 deg turns the x axis onto y (counter-clockwise seen from above, REP-103).
    np.testing.assert_allclose(rpy_to_matrix(0.0, 0.0, np.pi / 2) @ [1.0, 0.0, 0.0], [0.0, 1.0, 0.0], atol=1e-15)


@pytest.mark.parametrize("pitch", [np.pi / 2, -np.pi / 2])
def test_matrix_to_rpy_gimbal_lock_reproduces_the_rotation(pitch):
    R = rpy_to_matrix(0.4, pitch, -1.1)
    roll2, pitch2, yaw2 = matrix_to_rpy(R)
    assert roll2 == 0.0 and pitch2 == pytest.approx(pitch)
    np.testing.assert_allclose(rpy_to_matrix(roll2, pitch2, yaw2), R, atol=1e-7)


def test_so3_exp_log_match_scipy():
    rv = _random_rotations().as_rotvec()
    for w in rv:
        np.testing.assert_allclose(so3_exp(w), Rotation.from_rotvec(w).as_matrix(), atol=1e-12)
        np.testing.assert_allclose(so3_log(so3_exp(w)), w, atol=1e-9)


def test_so3_exp_batch_matches_scipy_with_tiny_and_large_angles_mixed():
    rv = np.concatenate([_random_rotations().as_rotvec(), [[0.0, 0.0, 0.0], [1e-9, 0.0, 0.0], [0.0, 3.1, 0.0]]])
    np.testing.assert_allclose(so3_exp_batch(rv), Rotation.from_rotvec(rv).as_matrix(), atol=1e-12)
    assert so3_exp_batch(np.empty((0, 3))).shape == (0, 3, 3)


@pytest.mark.parametrize("scale", [0.0, 1e-10, 1e-6, np.pi - 1e-6])
def test_so3_small_and_large_angles(scale):
    axis = np.array([1.0, 2.0, -2.0]) / 3.0
    w = axis * scale
    R = so3_exp(w)
    np.testing.assert_allclose(R, Rotation.from_rotvec(w).as_matrix(), atol=1e-12)
    np.testing.assert_allclose(R.T @ R, np.eye(3), atol=1e-14)
    np.testing.assert_allclose(so3_log(R), w, atol=1e-9)


def test_rigid_transform_apply_inverse_compose_against_scipy():
    rots = _random_rotations(3)
    rng = np.random.default_rng(RNG_SEED)
    ta, tb = rng.normal(size=3), rng.normal(size=3)
    A = RigidTransform.from_translation_quaternion(ta, rots[0].as_quat())
    B = RigidTransform.from_translation_quaternion(tb, rots[1].as_quat())
    p = rng.normal(size=(50, 3))
    np.testing.assert_allclose(A.apply(p), rots[0].apply(p) + ta, atol=1e-12)
    np.testing.assert_allclose((A @ B).apply(p), A.apply(B.apply(p)), atol=1e-12)
    np.testing.assert_allclose(A.inverse().apply(A.apply(p)), p, atol=1e-12)
    np.testing.assert_allclose((A @ A.inverse()).as_matrix(), np.eye(4), atol=1e-12)
    np.testing.assert_allclose((A @ B).as_matrix(), A.as_matrix() @ B.as_matrix(), atol=1e-12)
    np.testing.assert_allclose(A.apply(p[0]), A.apply(p[:1])[0])
    np.testing.assert_allclose(RigidTransform.from_matrix(A.as_matrix()).R, A.R)


def test_from_translation_rpy_and_identity():
    T = RigidTransform.from_translation_rpy([1.0, 2.0, 3.0], [0.1, -0.2, 0.3])
    np.testing.assert_allclose(T.R, Rotation.from_euler("xyz", [0.1, -0.2, 0.3]).as_matrix(), atol=1e-12)
    np.testing.assert_allclose(T.t, [1.0, 2.0, 3.0])
    p = np.arange(6.0).reshape(2, 3)
    np.testing.assert_array_equal(RigidTransform.identity().apply(p), p)


def test_rigid_transform_is_immutable_and_validates():
    T = RigidTransform.identity()
    with pytest.raises(ValueError):
        T.t[0] = 1.0
    with pytest.raises(InvalidInputError, match="translation"):
        RigidTransform(np.eye(3), [0.0, np.nan, 0.0])
    with pytest.raises(InvalidInputError, match="points"):
        T.apply(np.zeros((4, 2)))


def test_optical_from_body_hand_checked():
    ahead, left, up = OPTICAL_FROM_BODY.apply(np.array([[2.0, 0, 0], [0, 1.0, 0], [0, 0, 1.0]]))
    np.testing.assert_allclose(ahead, [0, 0, 2.0])  # 2 m ahead -> optical z = 2
    np.testing.assert_allclose(left, [-1.0, 0, 0])  # 1 m left -> optical x = -1 (x points right)
    np.testing.assert_allclose(up, [0, -1.0, 0])  # 1 m up -> optical y = -1 (y points down)


def test_optical_from_body_is_inverse_of_the_standard_optical_frame_publisher():
    # static_transform_publisher 0 0 0 -1.5708 0 -1.5708 camera_link camera_optical_frame
    # (yaw, pitch, roll) = (-pi/2, 0, -pi/2) is the pose of the optical frame in camera_link.
    body_from_optical = Rotation.from_euler("xyz", [-np.pi / 2, 0.0, -np.pi / 2]).as_matrix()
    np.testing.assert_allclose(OPTICAL_FROM_BODY.R, body_from_optical.T, atol=1e-15)


def test_body_extrinsic_to_optical():
    # Radar 10 cm left of and 5 cm above the camera, yawed 90 deg to the left (its x looks along camera y).
    T_body_radar = RigidTransform.from_translation_rpy([0.0, 0.10, 0.05], [0.0, 0.0, np.pi / 2])
    T_opt_radar = body_extrinsic_to_optical(T_body_radar)
    # Radar origin: 10 cm left -> optical x = -0.10; 5 cm up -> optical y = -0.05.
    np.testing.assert_allclose(T_opt_radar.apply(np.zeros(3)), [-0.10, -0.05, 0.0], atol=1e-15)
    # 3 m along the radar's x = 3 m to the camera's left of the radar -> optical x = -3.10.
    np.testing.assert_allclose(T_opt_radar.apply(np.array([3.0, 0, 0])), [-3.10, -0.05, 0.0], atol=1e-12)
    # 2 m along the radar's y (its left) = camera backwards -> optical z = -2.
    np.testing.assert_allclose(T_opt_radar.apply(np.array([0, 2.0, 0])), [-0.10, -0.05, -2.0], atol=1e-12)
    with pytest.raises(InvalidInputError):
        body_extrinsic_to_optical(np.eye(4))
