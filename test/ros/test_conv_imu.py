"""sensor_msgs/Imu -> ImuSample on hand-built messages and on a real Jackal bag."""

import math

import numpy as np
import pytest
from sensor_msgs.msg import Imu

from depth_ros.core.errors import ConversionError
from depth_ros.ros.conversions import ImuSample, imu_from_msg


def _imu(gyro=(0.1, -0.2, 0.3), accel=(0.5, 0.0, 9.81), quat=(0.0, 0.0, 0.0, 1.0), cov0=0.01):
    msg = Imu()
    msg.header.frame_id = "imu_link"
    msg.header.stamp.sec, msg.header.stamp.nanosec = 100, 250_000_000
    msg.angular_velocity.x, msg.angular_velocity.y, msg.angular_velocity.z = gyro
    msg.linear_acceleration.x, msg.linear_acceleration.y, msg.linear_acceleration.z = accel
    msg.orientation.x, msg.orientation.y, msg.orientation.z, msg.orientation.w = quat
    msg.orientation_covariance[0] = cov0
    return msg


def test_fields():
    s = imu_from_msg(_imu(quat=(0.0, 0.0, math.sin(0.25), math.cos(0.25))))
    assert isinstance(s, ImuSample)
    assert s.stamp == 100.25 and s.frame_id == "imu_link"
    np.testing.assert_array_equal(s.angular_velocity, [0.1, -0.2, 0.3])
    np.testing.assert_array_equal(s.linear_acceleration, [0.5, 0.0, 9.81])
    np.testing.assert_allclose(s.orientation, [0.0, 0.0, math.sin(0.25), math.cos(0.25)], atol=1e-15)
    assert not s.angular_velocity.flags.writeable


def test_orientation_conventions():
    assert imu_from_msg(_imu(cov0=-1.0)).orientation is None  # sensor_msgs: -1 = no orientation
    assert imu_from_msg(_imu(quat=(0.0, 0.0, 0.0, 0.0))).orientation is None
    assert imu_from_msg(_imu(quat=(0.0, float("nan"), 0.0, 1.0))).orientation is None
    np.testing.assert_allclose(imu_from_msg(_imu(quat=(0.0, 0.0, 0.0, 2.0))).orientation, [0, 0, 0, 1])


@pytest.mark.parametrize(
    "change, text",
    [
        (dict(gyro=(0.0, float("nan"), 0.0)), "angular_velocity is not finite"),
        (dict(accel=(float("inf"), 0.0, 9.8)), "linear_acceleration is not finite"),
    ],
)
def test_non_finite_rejected(change, text):
    with pytest.raises(ConversionError, match=f"{text}.*imu_link"):
        imu_from_msg(_imu(**change))


def test_real_jackal_imu(shared_dir):
    path = shared_dir / "data" / "real_bags" / "robot_localization_imu" / "jackal_imu_odom.bag"
    if not path.is_file():
        pytest.skip(f"{path} is missing")
    from rosbags.highlevel import AnyReader

    samples, msgs = [], []
    with AnyReader([path]) as reader:
        conns = [c for c in reader.connections if c.topic == "/imu/data"]
        for conn, _, raw in reader.messages(connections=conns):
            msg = reader.deserialize(raw, conn.msgtype)
            msgs.append(msg)
            samples.append(imu_from_msg(msg))
            if len(samples) == 200:
                break
    assert len(samples) == 200
    for msg, s in zip(msgs, samples):
        assert s.frame_id == "base_link"
        assert s.stamp == pytest.approx(msg.header.stamp.sec + msg.header.stamp.nanosec / 1e9, abs=1e-9)
        av, la, o = msg.angular_velocity, msg.linear_acceleration, msg.orientation
        np.testing.assert_array_equal(s.angular_velocity, [av.x, av.y, av.z])
        np.testing.assert_array_equal(s.linear_acceleration, [la.x, la.y, la.z])
        assert s.orientation is not None  # this bag's orientation covariance is set
        np.testing.assert_allclose(s.orientation, [o.x, o.y, o.z, o.w], atol=1e-6)
    stamps = np.array([s.stamp for s in samples])
    assert (np.diff(stamps) > 0).all()
    np.testing.assert_allclose(np.median(np.diff(stamps)), 0.02, rtol=0.1)  # README: 50 Hz
    g = np.linalg.norm([s.linear_acceleration for s in samples], axis=1)
    assert 9.0 < np.median(g) < 10.6  # gravity dominates a ground robot's accelerometer
