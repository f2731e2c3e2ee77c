"""Camera poses of a bag: base_link poses (/ground_truth/pose or /odom) composed with the /tf_static mount."""

from __future__ import annotations

from typing import Any

from depth_ros.core.timebuffer import TimeBuffer
from depth_ros.core.transforms import OPTICAL_FROM_BODY, RigidTransform
from depth_ros.evaluation.map_eval import POSE_SLOP_NS, POSE_TOPICS, mount, read_poses

POSE_CHOICES = ("auto", "ground_truth", "odom", "none")
# Without a static transform from base_link to the image's frame: the camera sits at base_link, looking forward.
DEFAULT_MOUNT = OPTICAL_FROM_BODY.inverse()


class CameraPoses:
    """world (the poses' frame) <- camera optical frame, at image stamps."""

    def __init__(self, poses: TimeBuffer, tree: dict[str, tuple[str, RigidTransform]], source: str) -> None:
        self.poses, self.tree, self.source = poses, tree, source
        self._mounts: dict[str, RigidTransform] = {}

    @classmethod
    def from_bag(cls, bag: Any, choice: str = "auto") -> CameraPoses | None:
        """The bag's poses by `choice` (auto: exact ground truth first, then odometry); None without any."""
        if choice == "none":
            return None
        order = ("ground_truth", "odom") if choice == "auto" else (choice,)
        for source in order:
            if POSE_TOPICS[source] in bag.topics:
                poses, tree = read_poses(bag, source)
                return cls(poses, tree, source)
        return None

    def at(self, stamp_ns: int, frame_id: str) -> RigidTransform | None:
        """The camera's pose at `stamp_ns` (None when no pose is within the slop)."""
        found = self.poses.nearest(stamp_ns, POSE_SLOP_NS)
        if found is None:
            return None
        if frame_id not in self._mounts:
            self._mounts[frame_id] = mount(self.tree, frame_id) or DEFAULT_MOUNT
        return found[1] @ self._mounts[frame_id]
